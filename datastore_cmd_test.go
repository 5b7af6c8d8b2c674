package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDatastoreCommand creates, lists and deletes datastores with the CLI, and the server
// started on the same data directory serves the one created under /ds/{name}/.
func TestDatastoreCommand(t *testing.T) {
	data := t.TempDir()
	cli := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), append([]string{"fhirgate", "datastore"}, args...), func(string) string { return "" }, &out, io.Discard)
		return out.String(), err
	}
	if out, err := cli("create", "clinic-a", "--data", data); err != nil || !strings.Contains(out, "/ds/clinic-a/") {
		t.Fatalf("create: %q %v", out, err)
	}
	if _, err := cli("create", "--data", data, "clinic-a"); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("create twice: %v", err)
	}
	for _, bad := range [][]string{{"create", "Clinic_A"}, {"delete", "default"}, {"delete", "nowhere"}, {"frobnicate"}, {"create"}, {"list", "extra"}} {
		if _, err := cli(append(bad, "--data", data)...); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if out, err := cli("list", "--data", data); err != nil || out != "clinic-a\ndefault\n" {
		t.Fatalf("list: %q %v", out, err)
	}

	var stderr syncBuffer
	cfg, err := parseConfig([]string{"fhirgate", "--addr", "127.0.0.1:0", "--data", data, "--auth=off"}, func(string) string { return "" }, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	cfg.onListen = func(a string) { addr <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, io.Discard, &stderr) }()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("server stopped: %v\n%s", err, stderr.String())
	case <-time.After(2 * time.Minute):
		t.Fatal("server did not start")
	}
	post := func(path string) (int, string) {
		resp, err := http.Post(base+path, "application/json", strings.NewReader(`{"query":"{ PatientList { id } }"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, body := post("/ds/clinic-a/$graphql"); status != http.StatusOK || !strings.Contains(body, `"PatientList":[]`) {
		t.Errorf("/ds/clinic-a: %d %s", status, body)
	}
	if status, _ := post("/ds/clinic-b/$graphql"); status != http.StatusNotFound {
		t.Errorf("/ds/clinic-b: %d, want 404", status)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	if out, err := cli("delete", "clinic-a", "--data", data); err != nil || !strings.Contains(out, "deleted") {
		t.Fatalf("delete: %q %v", out, err)
	}
	if out, err := cli("list", "--data", data); err != nil || out != "default\n" {
		t.Errorf("list after delete: %q %v", out, err)
	}
}
