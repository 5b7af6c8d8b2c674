package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fhirgate/fhirgate/internal/datasets"
	"github.com/fhirgate/fhirgate/validate"
)

// TestImportSynthea imports the Synthea NDJSON (two files gzipped) and checks every
// resource against the source field for field, its conditional references resolved to the
// resources the source identifies, every per-type count, and that importing again, whole or
// forced, writes nothing.
func TestImportSynthea(t *testing.T) {
	dir := syntheaDir(t)
	s := newStore(t)
	ctx := context.Background()
	var log errorLog
	im := &Importer{Store: s, OnError: log.add}
	if err := im.Import(ctx, []string{dir}); err != nil {
		t.Fatal(err)
	}
	if errs := log.all(); len(errs) > 0 {
		t.Fatalf("%d errors, first %v", len(errs), errs[0])
	}

	want := syntheaSource(t)
	refs := want.resolveConditional(t)
	n := compareStored(t, s, want)
	st := im.Stats()
	for typ, byID := range want {
		if st.ByType[typ] != int64(len(byID)) {
			t.Errorf("%s: %d written, the source has %d", typ, st.ByType[typ], len(byID))
		}
	}
	if n != 7160 || len(want) != 13 || refs == 0 || st.Written != 7160 || st.Files != 13 || st.FilesDone != 13 || st.BytesDone != st.TotalBytes {
		t.Errorf("compared %d resources of %d types (%d conditional references); stats %+v", n, len(want), refs, st)
	}
	t.Logf("compared %d resources of %d types field for field, %d conditional references resolved", n, len(want), refs)

	head := feedHead(t, s)
	again := &Importer{Store: s, OnError: log.add}
	if err := again.Import(ctx, []string{dir}); err != nil {
		t.Fatal(err)
	}
	if st := again.Stats(); st.Skipped != 13 || st.Written != 0 {
		t.Errorf("second import: %+v, want 13 files skipped by their checkpoints", st)
	}
	forced := &Importer{Store: s, OnError: log.add, Restart: true}
	if err := forced.Import(ctx, []string{dir}); err != nil {
		t.Fatal(err)
	}
	if st := forced.Stats(); st.Written != 0 || st.Unchanged != 7160 {
		t.Errorf("forced import: %d written, %d unchanged; want 0 and 7160", st.Written, st.Unchanged)
	}
	if got := feedHead(t, s); got != head {
		t.Errorf("importing again moved the change feed from %d to %d", head, got)
	}
	compareStored(t, s, want) // still every resource at version 1
	if errs := log.all(); len(errs) > 0 {
		t.Errorf("errors importing again: %v", errs[0])
	}
}

// TestImportOfficialExamples imports the 699 official examples, one resource per .json file,
// Bundles stored as resources: all stored field for field but those the validator refuses,
// each reported with its file.
func TestImportOfficialExamples(t *testing.T) {
	dir := t.TempDir()
	want := source{}
	files := map[string]string{} // Type/id -> file
	for _, f := range datasets.Files(t, datasets.FHIRExamples, "*.json") {
		path := filepath.Join(dir, f.Name)
		if err := os.WriteFile(path, f.Data, 0o600); err != nil {
			t.Fatal(err)
		}
		want.add(t, f.Data)
		m := decode(t, f.Data)
		files[m["resourceType"].(string)+"/"+m["id"].(string)] = path
	}
	s := newStore(t)
	var log errorLog
	im := &Importer{Store: s, OnError: log.add, Bundles: StoreBundles}
	if err := im.Import(context.Background(), []string{dir}); err != nil {
		t.Fatal(err)
	}
	v, err := validate.Default()
	if err != nil {
		t.Fatal(err)
	}
	refused := map[string]bool{}
	for _, e := range log.all() {
		refused[e.File] = true
		b, _ := os.ReadFile(e.File)
		if !v.Validate(b).HasErrors() || !bytes.Contains(e.Outcome, []byte(`"OperationOutcome"`)) {
			t.Errorf("%s refused (%s), but the validator finds no error in it", e.File, e.Message)
		}
	}
	for key, path := range files {
		if refused[path] {
			typ, id, _ := strings.Cut(key, "/")
			delete(want[typ], id)
		}
	}
	n := compareStored(t, s, want)
	if n+len(refused) != 699 || len(refused) > 9 {
		t.Errorf("%d stored and %d refused of 699 examples; the validator refuses 9", n, len(refused))
	}
	t.Logf("compared %d examples of %d types field for field; %d refused by validation", n, len(want), len(refused))
}

// TestImportSyntheaBundles imports the Synthea data as Synthea writes it as FHIR bundles:
// organizations and locations, then practitioners, in transactions of conditional creates,
// and a transaction per patient whose entries refer to each other by urn:uuid and to
// practitioners and organizations by conditional reference. The end state is the NDJSON's.
func TestImportSyntheaBundles(t *testing.T) {
	src := syntheaSource(t)
	dir := t.TempDir()
	writeSyntheaBundles(t, dir, src)
	s := newStore(t)
	var log errorLog
	im := &Importer{Store: s, OnError: log.add}
	if err := im.Import(context.Background(), []string{dir}); err != nil {
		t.Fatal(err)
	}
	if errs := log.all(); len(errs) > 0 {
		t.Fatalf("%d errors, first %v", len(errs), errs[0])
	}
	src.resolveConditional(t)
	if n := compareStored(t, s, src); n != 7160 || im.Stats().Written != 7160 {
		t.Errorf("compared %d resources, %d written; want 7160", n, im.Stats().Written)
	}
	head := feedHead(t, s)
	forced := &Importer{Store: s, Restart: true, OnError: log.add}
	if err := forced.Import(context.Background(), []string{dir}); err != nil {
		t.Fatal(err)
	}
	if st := forced.Stats(); st.Written != 0 || st.Unchanged != 7160 || feedHead(t, s) != head {
		t.Errorf("bundles again: %d written, %d unchanged; want 0 and 7160, and no change", st.Written, st.Unchanged)
	}
}

// writeSyntheaBundles writes src as Synthea's FHIR exporter lays it out.
func writeSyntheaBundles(t testing.TB, dir string, src source) {
	t.Helper()
	entry := func(typ string, r map[string]any, ifNoneExist bool) map[string]any {
		req := map[string]any{"method": "POST", "url": typ}
		if ids, ok := r["identifier"].([]any); ok && ifNoneExist {
			id := ids[0].(map[string]any)
			req["ifNoneExist"] = fmt.Sprintf("identifier=%s|%s", id["system"], id["value"])
		}
		return map[string]any{"fullUrl": "urn:uuid:" + r["id"].(string), "resource": r, "request": req}
	}
	write := func(name string, entries []any) {
		b, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries})
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var hospital, practitioners []any
	for _, typ := range []string{"Organization", "Location"} {
		for _, id := range slices.Sorted(maps.Keys(src[typ])) {
			hospital = append(hospital, entry(typ, src[typ][id], true))
		}
	}
	for _, typ := range []string{"Practitioner", "PractitionerRole"} {
		for _, id := range slices.Sorted(maps.Keys(src[typ])) {
			practitioners = append(practitioners, entry(typ, src[typ][id], true))
		}
	}
	write("hospitalInformation.json", hospital)
	write("practitionerInformation.json", practitioners)

	// Each other resource goes with the patient it refers to; references within the
	// patient's bundle become urn:uuid references.
	byPatient := map[string][]string{} // patient -> Type/id
	for typ, byID := range src {
		if slices.Contains([]string{"Organization", "Location", "Practitioner", "PractitionerRole"}, typ) {
			continue
		}
		for id, r := range byID {
			pid := id
			if typ != "Patient" {
				b, _ := json.Marshal(r)
				_, rest, ok := strings.Cut(string(b), `"reference":"Patient/`)
				if !ok {
					t.Fatalf("%s/%s refers to no patient", typ, id)
				}
				pid, _, _ = strings.Cut(rest, `"`)
			}
			byPatient[pid] = append(byPatient[pid], typ+"/"+id)
		}
	}
	for pid, keys := range byPatient {
		slices.Sort(keys)
		in := map[string]bool{}
		for _, k := range keys {
			in[k] = true
		}
		var entries []any
		for _, k := range keys {
			typ, id, _ := strings.Cut(k, "/")
			b, _ := json.Marshal(src[typ][id])
			var r map[string]any
			json.Unmarshal([]byte(urnRefs(string(b), in)), &r)
			entries = append(entries, entry(typ, decode(t, []byte(urnRefs(string(b), in))), false))
		}
		write(pid+".json", entries)
	}
}

// urnRefs rewrites the references in s to resources of in as urn:uuid references.
func urnRefs(s string, in map[string]bool) string {
	var b strings.Builder
	for {
		i := strings.Index(s, `"reference":"`)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		i += len(`"reference":"`)
		b.WriteString(s[:i])
		s = s[i:]
		j := strings.IndexByte(s, '"')
		if ref := s[:j]; in[ref] {
			_, id, _ := strings.Cut(ref, "/")
			b.WriteString("urn:uuid:" + id)
		} else {
			b.WriteString(ref)
		}
		s = s[j:]
	}
}

// TestImportBadLines: lines that cannot be imported are reported with their file, line and
// an OperationOutcome, and the others are imported; a gzip bomb stops its file.
func TestImportBadLines(t *testing.T) {
	dir := t.TempDir()
	good := func(id string) string { return `{"resourceType":"Patient","id":"` + id + `","name":[{"family":"F"}]}` }
	lines := []string{
		good("g1"),
		`{"resourceType":"Patient","id":"bad1","gender":"robot"}`,
		`{not json`,
		``,
		`{"resourceType":"Nope","id":"x"}`,
		`{"resourceType":"Patient","id":"bad id"}`,
		`{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"},"subject":{"reference":"Patient?identifier=none|none"}}`,
		`{"resourceType":"Patient","id":"long","name":[{"family":"` + strings.Repeat("x", 2000) + `"}]}`,
		good("g2"),
	}
	path := filepath.Join(dir, "mixed.ndjson")
	os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600)
	s := newStore(t)
	var log errorLog
	im := &Importer{Store: s, OnError: log.add, MaxLineBytes: 1000}
	if err := im.Import(context.Background(), []string{path}); err != nil {
		t.Fatal(err)
	}
	wantLines := []int64{2, 3, 5, 6, 7, 8}
	var got []int64
	for _, e := range log.all() {
		if e.File != path || !bytes.Contains(e.Outcome, []byte(`"resourceType":"OperationOutcome"`)) || e.Message == "" {
			t.Errorf("error %+v lacks its file, message or outcome", e)
		}
		got = append(got, e.Line)
	}
	slices.Sort(got)
	if !slices.Equal(got, wantLines) {
		t.Errorf("errors on lines %v, want %v", got, wantLines)
	}
	for _, id := range []string{"g1", "g2"} {
		if _, err := s.Read(context.Background(), "Patient", id); err != nil {
			t.Errorf("Patient/%s: %v", id, err)
		}
	}
	if st := im.Stats(); st.Written != 2 || st.Failed != int64(len(wantLines)) {
		t.Errorf("stats %+v", st)
	}

	// A gzip bomb: 64 MB of one byte, compressed about a thousand times.
	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
	zw.Write([]byte(good("b1") + "\n"))
	zw.Write(bytes.Repeat([]byte(" "), 64<<20))
	zw.Close()
	bombPath := filepath.Join(dir, "bomb.ndjson.gz")
	os.WriteFile(bombPath, bomb.Bytes(), 0o600)
	after := filepath.Join(dir, "zz.ndjson") // no type in the name: after the bomb, by name
	os.WriteFile(after, []byte(good("after")+"\n"), 0o600)
	log = errorLog{}
	im = &Importer{Store: s, OnError: log.add}
	err := im.Import(context.Background(), []string{bombPath, after})
	errs := log.all()
	if err != nil || len(errs) != 1 || errs[0].File != bombPath || !strings.Contains(errs[0].Message, "gzip bomb") {
		t.Errorf("bomb of %d bytes: %v, errors %v", bomb.Len(), err, errs)
	}
	if _, err := s.Read(context.Background(), "Patient", "after"); err != nil {
		t.Errorf("the file after the bomb: %v", err)
	}
}
