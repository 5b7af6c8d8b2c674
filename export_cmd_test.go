package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/storage"
)

// TestExportCommand writes a datastore's resources into NDJSON files with the CLI: one
// file per stored type, one resource per line, as stored; --type and --datastore select.
func TestExportCommand(t *testing.T) {
	data, out := t.TempDir(), t.TempDir()
	ctx := context.Background()
	sf := storageFlags{dataDir: data}
	c, err := sf.open(ctx, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	store, err := c.Datastore(ctx, storage.DefaultDatastore)
	if err != nil {
		t.Fatal(err)
	}
	var writes []storage.Write
	for _, id := range []string{"a", "b", "c"} {
		p := &model.Patient{}
		json.Unmarshal([]byte(`{"resourceType":"Patient","id":"`+id+`","birthDate":"1970-01-0`+string(rune('1'+len(writes)))+`"}`), p)
		writes = append(writes, storage.Write{Op: storage.OpPut, Type: "Patient", ID: id, Resource: p})
	}
	o := &model.Organization{}
	json.Unmarshal([]byte(`{"resourceType":"Organization","id":"org","name":"Clinic"}`), o)
	writes = append(writes, storage.Write{Op: storage.OpPut, Type: "Organization", ID: "org", Resource: o})
	if _, err := store.Commit(ctx, writes); err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)

	cli := func(args ...string) (string, error) {
		var stdout bytes.Buffer
		err := run(ctx, append([]string{"fhirgate", "export"}, args...), func(string) string { return "" }, &stdout, io.Discard)
		return stdout.String(), err
	}
	if got, err := cli("--data", data, "--out", out); err != nil || !strings.Contains(got, "exported 4 resources of 2 types") {
		t.Fatalf("export: %q %v", got, err)
	}
	b, err := os.ReadFile(filepath.Join(out, "Patient.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 3 || !strings.Contains(string(b), `"birthDate":"1970-01-02"`) || !strings.Contains(lines[0], `"versionId":"1"`) {
		t.Errorf("Patient.ndjson: %s", b)
	}
	if got, err := cli("--data", data, "--out", t.TempDir(), "--type", "Organization"); err != nil || !strings.Contains(got, "exported 1 resources of 1 types") {
		t.Errorf("--type Organization: %q %v", got, err)
	}
	for _, bad := range [][]string{{"--data", data}, {"--data", data, "--out", out, "--datastore", "nope"}, {"--data", data, "--out", out, "--type", "Nope"}, {"--data", data, "--out", out, "--since", "today"}} {
		if _, err := cli(bad...); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
