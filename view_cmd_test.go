package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/storage"
)

// TestViewCommand writes a view's rows over a stored datastore to files in every format, and
// refuses bad arguments leaving nothing behind.
func TestViewCommand(t *testing.T) {
	data := t.TempDir()
	ctx := context.Background()
	sf := storageFlags{dataDir: data}
	c, err := sf.open(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	store, err := c.Datastore(ctx, storage.DefaultDatastore)
	if err != nil {
		t.Fatal(err)
	}
	var writes []storage.Write
	// More patients than two of storage's batches of a stream (256), and an observation the
	// view skips.
	const n = 519
	for i := range n {
		res, err := model.Unmarshal(fmt.Appendf(nil, `{"resourceType":"Patient","id":"p%04d","gender":"%s","name":[{"family":"F%d","given":["A","B"]}]}`,
			i, []string{"female", "male"}[i%2], i))
		if err != nil {
			t.Fatal(err)
		}
		writes = append(writes, storage.Write{Op: storage.OpPut, Type: "Patient", ID: res.ResourceID(), Resource: res})
	}
	obs, _ := model.Unmarshal([]byte(`{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"}}`))
	writes = append(writes, storage.Write{Op: storage.OpPut, Type: "Observation", ID: "o1", Resource: obs})
	if _, err := store.Commit(ctx, writes); err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)

	dir := t.TempDir()
	def := filepath.Join(dir, "patients.json")
	os.WriteFile(def, []byte(`{"resourceType":"ViewDefinition","name":"patients","resource":"Patient","select":[{"column":[{"name":"id","path":"id"},{"name":"gender","path":"gender"}]},{"forEach":"name","column":[{"name":"family","path":"family"},{"name":"given","path":"given","collection":true}]}]}`), 0o600)
	cli := func(args ...string) (string, string, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, append([]string{"fhirgate", "view", "--data", data}, args...), func(string) string { return "" }, &out, &errOut)
		return out.String(), errOut.String(), err
	}

	csvFile := filepath.Join(dir, "p.csv")
	if _, msg, err := cli("--view", def, "--out", csvFile); err != nil || !strings.Contains(msg, fmt.Sprintf("%d rows from %d Patient resources, csv", n, n)) {
		t.Fatalf("csv: %v %s", err, msg)
	}
	b, _ := os.ReadFile(csvFile)
	lines := strings.Split(strings.TrimSpace(string(b)), "\r\n")
	if len(lines) != n+1 || lines[0] != "id,gender,family,given" || lines[1] != `p0000,female,F0,"[""A"",""B""]"` || lines[n] != fmt.Sprintf(`p%04d,%s,F%d,"[""A"",""B""]"`, n-1, []string{"female", "male"}[(n-1)%2], n-1) {
		t.Errorf("csv: %d lines, %q ... %q", len(lines), lines[0], lines[len(lines)-1])
	}

	out, _, err := cli("--view", def, "--out", "-", "--format", "ndjson")
	if err != nil || strings.Count(out, "\n") != n || !strings.HasPrefix(out, `{"id":"p0000","gender":"female","family":"F0","given":["A","B"]}`+"\n") {
		t.Errorf("ndjson to stdout: %v %q", err, out[:min(len(out), 200)])
	}

	pq := filepath.Join(dir, "p.parquet")
	if _, _, err := cli("--view", def, "--out", pq); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(pq); !bytes.HasPrefix(b, []byte("PAR1")) || !bytes.HasSuffix(b, []byte("PAR1")) {
		t.Errorf("parquet file of %d bytes without its magic", len(b))
	}

	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"resource":"Patient","select":[{"column":[{"name":"given","path":"name.given"}]}]}`), 0o600)
	dup := filepath.Join(dir, "dup.json")
	os.WriteFile(dup, []byte(`{"resource":"Patient","select":[{"column":[{"name":"a","path":"id"},{"name":"a","path":"id"}]}]}`), 0o600)
	target := filepath.Join(dir, "never.parquet")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--out", target}, "--view and --out are required"},
		{[]string{"--view", def}, "--view and --out are required"},
		{[]string{"--view", def, "--out", target, "--format", "xlsx"}, `--format "xlsx"`},
		{[]string{"--view", filepath.Join(dir, "none.json"), "--out", target}, "no such file"},
		{[]string{"--view", dup, "--out", target}, `column "a" is already defined`},
		{[]string{"--view", def, "--out", target, "--datastore", "elsewhere"}, `datastore "elsewhere" does not exist`},
		{[]string{"--view", bad, "--out", target}, `column "given": the path yields 2 values`},
	} {
		if _, _, err := cli(c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.args, err, c.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 5 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("files left: %v (want the 3 views and 2 outputs)", names)
	}
}
