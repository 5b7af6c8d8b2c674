package ingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/fhirgate/fhirgate/internal/datasets"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/storage/embedded"
	"github.com/fhirgate/fhirgate/validate"
)

// openStore opens the embedded engine over dir as the import command does: search fields,
// and strict validation unless mode says otherwise.
func openStore(t testing.TB, dir string, mode validate.Mode) (*storage.Client, *storage.Store) {
	t.Helper()
	c, err := storage.Open(context.Background(), storage.Config{Engine: embedded.New(dir), Indexer: search.Indexer{}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Datastore(context.Background(), storage.DefaultDatastore)
	if err != nil {
		t.Fatal(err)
	}
	if mode != validate.Off {
		g, err := validate.NewGuard(mode)
		if err != nil {
			t.Fatal(err)
		}
		s.SetValidator(g)
	}
	return c, s
}

func newStore(t testing.TB) *storage.Store {
	t.Helper()
	c, s := openStore(t, t.TempDir(), validate.Strict)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return s
}

// errorLog collects an import's errors.
type errorLog struct {
	mu   sync.Mutex
	errs []LineError
}

func (l *errorLog) add(e LineError) {
	l.mu.Lock()
	l.errs = append(l.errs, e)
	l.mu.Unlock()
}

func (l *errorLog) all() []LineError {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]LineError(nil), l.errs...)
}

// syntheaDir writes the Synthea NDJSON files to a directory, the Condition and Procedure
// files gzipped, and returns it.
func syntheaDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range datasets.Files(t, datasets.Synthea, "*.000.ndjson") {
		name, data := f.Name, f.Data
		if strings.HasPrefix(name, "Condition") || strings.HasPrefix(name, "Procedure") {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(data)
			zw.Close()
			name, data = name+".gz", buf.Bytes()
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// source is a data set's resources as the test reads them, independently of the importer:
// by type and id, decoded with numbers as written.
type source map[string]map[string]map[string]any

func decode(t testing.TB, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode %.80s: %v", b, err)
	}
	return m
}

func (s source) add(t testing.TB, b []byte) {
	m := decode(t, b)
	typ, id := m["resourceType"].(string), m["id"].(string)
	if s[typ] == nil {
		s[typ] = map[string]map[string]any{}
	}
	s[typ][id] = m
}

func syntheaSource(t testing.TB) source {
	s := source{}
	for _, f := range datasets.Files(t, datasets.Synthea, "*.000.ndjson") {
		sc := bufio.NewScanner(bytes.NewReader(f.Data))
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			if len(bytes.TrimSpace(sc.Bytes())) > 0 {
				s.add(t, sc.Bytes())
			}
		}
	}
	return s
}

// resolveConditional replaces, in every resource of s, each conditional reference
// Type?identifier=system|value by a reference to the one resource of s with that identifier,
// and returns how many it replaced.
func (s source) resolveConditional(t testing.TB) int {
	n := 0
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["reference"].(string); ok && strings.Contains(ref, "?identifier=") {
				typ, crit, _ := strings.Cut(ref, "?identifier=")
				sys, val, _ := strings.Cut(crit, "|")
				var found []string
				for id, r := range s[typ] {
					ids, _ := r["identifier"].([]any)
					for _, i := range ids {
						im := i.(map[string]any)
						if im["system"] == sys && im["value"] == val {
							found = append(found, id)
						}
					}
				}
				if len(found) != 1 {
					t.Fatalf("the source has %d %s with identifier %s|%s", len(found), typ, sys, val)
				}
				x["reference"] = typ + "/" + found[0]
				n++
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	for _, byID := range s {
		for _, r := range byID {
			walk(r)
		}
	}
	return n
}

// withoutServerMeta returns m without meta.versionId and meta.lastUpdated (and without meta
// when nothing else is in it).
func withoutServerMeta(m map[string]any) map[string]any {
	return withoutMeta(m, "versionId", "lastUpdated")
}

// withoutMeta returns m without the meta elements named (and without meta when nothing else
// is in it).
func withoutMeta(m map[string]any, names ...string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	if meta, ok := out["meta"].(map[string]any); ok {
		rest := map[string]any{}
		for k, v := range meta {
			if !slices.Contains(names, k) {
				rest[k] = v
			}
		}
		if len(rest) == 0 {
			delete(out, "meta")
		} else {
			out["meta"] = rest
		}
	}
	return out
}

// compareStored checks that the store holds every resource of want, field for field apart
// from server meta, at version 1, and no other resource of want's types; it returns how many
// it compared.
func compareStored(t testing.TB, s *storage.Store, want source) int {
	t.Helper()
	ctx := context.Background()
	n := 0
	for typ, byID := range want {
		ids := make([]string, 0, len(byID))
		for id := range byID {
			ids = append(ids, id)
		}
		recs, err := s.ReadMany(ctx, typ, ids)
		if err != nil {
			t.Fatal(err)
		}
		count, err := s.Count(ctx, typ, storage.Query{})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != len(byID) || count != int64(len(byID)) {
			t.Errorf("%s: %d of the %d source resources stored, %d in all", typ, len(recs), len(byID), count)
		}
		for id, src := range byID {
			rec := recs[id]
			if rec == nil {
				continue
			}
			n++
			if rec.VersionID != 1 {
				t.Errorf("%s/%s at version %d, want 1", typ, id, rec.VersionID)
			}
			if got, exp := withoutServerMeta(decode(t, rec.JSON)), withoutServerMeta(src); !reflect.DeepEqual(got, exp) {
				t.Errorf("%s/%s differs from the source:\n got  %.300s\n want %.300s", typ, id, mustJSON(got), mustJSON(exp))
			}
		}
	}
	return n
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// feedHead returns the newest change's sequence number.
func feedHead(t testing.TB, s *storage.Store) int64 {
	t.Helper()
	var head int64
	for {
		ch, err := s.Changes(context.Background(), head, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(ch) == 0 {
			return head
		}
		head = ch[len(ch)-1].Seq
	}
}
