//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/storage/embedded"
)

// TestImportHelperProcess is the `fhirgate import` command run in a process of its own by
// TestImportResumesAfterKill; it does nothing in a normal test run.
func TestImportHelperProcess(t *testing.T) {
	if os.Getenv("FHIRGATE_IMPORT_HELPER") != "1" {
		t.Skip("runs as a helper process only")
	}
	args := append([]string{"fhirgate", "import"}, strings.Split(os.Getenv("FHIRGATE_IMPORT_ARGS"), "\n")...)
	if err := run(context.Background(), args, func(string) string { return "" }, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fhirgate:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// importProcess starts `fhirgate import` in a helper process.
func importProcess(t *testing.T, args ...string) (*exec.Cmd, *lockedBuffer, *lockedBuffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestImportHelperProcess$")
	cmd.Env = append(os.Environ(), "FHIRGATE_IMPORT_HELPER=1", "FHIRGATE_IMPORT_ARGS="+strings.Join(args, "\n"))
	var stdout, stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &stdout, &stderr
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestImportResumesAfterKill kills an import with SIGKILL midway, runs it again, and checks
// that the end state is that of an uninterrupted import: every resource, each at version 1,
// the same content; and that the second run continued rather than started over.
func TestImportResumesAfterKill(t *testing.T) {
	dir := t.TempDir()
	const patients, observations = 200, 30_000
	var b bytes.Buffer
	for i := range patients {
		fmt.Fprintf(&b, `{"resourceType":"Patient","id":"p%d","name":[{"family":"F%d"}],"gender":"female"}`+"\n", i, i)
	}
	for i := range observations {
		fmt.Fprintf(&b, `{"resourceType":"Observation","id":"o%d","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/p%d"},"valueQuantity":{"value":%d.50,"unit":"/min"}}`+"\n", i, i%patients, i%200)
	}
	file := filepath.Join(dir, "data.ndjson")
	if err := os.WriteFile(file, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	total := patients + observations

	// The interrupted import: killed once it has committed some of the file.
	killed := filepath.Join(dir, "killed")
	cmd, _, stderr := importProcess(t, "--data", killed, "--progress", "lines", "--progress-interval", "100ms", "--batch", "1000", file)
	written := regexp.MustCompile(`(\d+) written`)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		m := written.FindAllStringSubmatch(stderr.String(), -1)
		if len(m) > 0 {
			if n, _ := strconv.Atoi(m[len(m)-1][1]); n >= 3000 && n < total/2 {
				break
			} else if n >= total/2 {
				t.Fatalf("the import got to %d before it could be killed; make the file larger", n)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	atKill := lastLine(stderr.String())

	// The same command again continues where the checkpoint says.
	cmd, stdout, stderr := importProcess(t, "--data", killed, "--progress", "off", file)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("resumed import: %v\n%s", err, stderr.String())
	}
	m := regexp.MustCompile(`imported (\d+) resources \((\d+) new versions, (\d+) unchanged\)`).FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("resumed import said %q", stdout.String())
	}
	if n, _ := strconv.Atoi(m[1]); n == 0 || n >= total {
		t.Errorf("the resumed import went through %d of %d resources: it did not continue from the checkpoint", n, total)
	}

	// An uninterrupted import of the same file.
	whole := filepath.Join(dir, "whole")
	cmd, _, stderr = importProcess(t, "--data", whole, "--progress", "off", file)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("whole import: %v\n%s", err, stderr.String())
	}

	a, b2 := dump(t, killed), dump(t, whole)
	if len(a) != total || len(b2) != total {
		t.Fatalf("%d resources after kill and resume, %d after an uninterrupted import; want %d", len(a), len(b2), total)
	}
	for key, want := range b2 {
		if got := a[key]; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v after kill and resume, %v uninterrupted", key, got, want)
			break
		}
	}
	t.Logf("killed at %q; the resumed run went through %s resources (%s new); %d resources compared", atKill, m[1], m[2], total)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// dump returns every current resource of the data directory's default datastore by
// Type/id: its version and its JSON without meta.
func dump(t *testing.T, dir string) map[string]any {
	t.Helper()
	ctx := context.Background()
	c, err := storage.Open(ctx, storage.Config{Engine: embedded.New(dir), Indexer: search.Indexer{}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	s, err := c.Datastore(ctx, storage.DefaultDatastore)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	for _, typ := range []string{"Patient", "Observation"} {
		err := s.Each(ctx, typ, nil, time.Time{}, func(r *storage.Record) error {
			var m map[string]any
			if err := json.Unmarshal(r.JSON, &m); err != nil {
				return err
			}
			delete(m, "meta")
			out[typ+"/"+r.ID] = []any{r.VersionID, m}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}
