package search

import (
	"bufio"
	"bytes"
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/internal/datasets"
	"github.com/fhirgate/fhirgate/storage"
)

// loadJSON stores resources (raw JSON) and returns them decoded, by type.
func loadJSON(t *testing.T, s *storage.Store, raws [][]byte) map[string][]map[string]any {
	t.Helper()
	byType := map[string][]map[string]any{}
	var batch []string
	flush := func() {
		if len(batch) > 0 {
			put(t, s, batch...)
			batch = batch[:0]
		}
	}
	for _, raw := range raws {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		typ, _ := m["resourceType"].(string)
		byType[typ] = append(byType[typ], m)
		batch = append(batch, string(raw))
		if len(batch) == 200 {
			flush()
		}
	}
	flush()
	return byType
}

var (
	syntheaOnce  sync.Once
	syntheaStore *storage.Store
	syntheaData  map[string][]map[string]any
)

func synthea(t *testing.T) (*storage.Store, map[string][]map[string]any) {
	t.Helper()
	syntheaOnce.Do(func() {
		var raws [][]byte
		for _, f := range datasets.Files(t, datasets.Synthea, "*.000.ndjson") {
			sc := bufio.NewScanner(bytes.NewReader(f.Data))
			sc.Buffer(make([]byte, 1<<20), 16<<20)
			for sc.Scan() {
				raws = append(raws, append([]byte(nil), sc.Bytes()...))
			}
			if err := sc.Err(); err != nil {
				t.Fatalf("%s: %v", f.Name, err)
			}
		}
		syntheaStore = newStore(t)
		start := time.Now()
		syntheaData = loadJSON(t, syntheaStore, raws)
		t.Logf("stored and indexed %d Synthea resources in %v", len(raws), time.Since(start).Round(time.Millisecond))
	})
	if syntheaStore == nil {
		t.Fatal("Synthea data failed to load")
	}
	return syntheaStore, syntheaData
}

// expect compares a search's ids with ids computed from the raw JSON.
func expect(t *testing.T, s *storage.Store, typ string, args map[string]any, want map[string]bool) {
	t.Helper()
	got, err := ids(t, s, typ, args)
	if err != nil {
		t.Fatalf("%s %v: %v", typ, args, err)
	}
	var w []string
	for id := range want {
		w = append(w, id)
	}
	sort.Strings(w)
	if join(got) != join(w) {
		t.Errorf("%s %v: got %d ids, want %d (computed from the raw JSON)\n got %v\nwant %v", typ, args, len(got), len(w), got, w)
	}
	if len(w) == 0 {
		t.Logf("%s %v: no matches expected", typ, args)
	}
}

func ref(m map[string]any, k string) string {
	r, _ := m[k].(map[string]any)
	s, _ := r["reference"].(string)
	return s
}

func codings(cc any) [][2]string {
	m, _ := cc.(map[string]any)
	l, _ := m["coding"].([]any)
	var out [][2]string
	for _, c := range l {
		cm, _ := c.(map[string]any)
		s, _ := cm["system"].(string)
		code, _ := cm["code"].(string)
		out = append(out, [2]string{s, code})
	}
	return out
}

func instant(t *testing.T, s string) time.Time {
	ts, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return ts
}

// TestSearchSyntheaAgainstRawJSON checks searches over the Synthea sample against
// results computed in the test from the raw JSON, not through extraction.
func TestSearchSyntheaAgainstRawJSON(t *testing.T) {
	s, data := synthea(t)

	// Reference: each patient's conditions.
	for _, p := range data["Patient"] {
		id := p["id"].(string)
		want := map[string]bool{}
		for _, c := range data["Condition"] {
			if ref(c, "subject") == "Patient/"+id {
				want[c["id"].(string)] = true
			}
		}
		expect(t, s, "Condition", map[string]any{"patient": "Patient/" + id}, want)
		expect(t, s, "Condition", map[string]any{"subject": map[string]any{"Patient": id}}, want)
	}

	// Token on CodeableConcept, with and without system; the most frequent code.
	freq := map[[2]string]int{}
	for _, c := range data["Condition"] {
		for _, sc := range codings(c["code"]) {
			freq[sc]++
		}
	}
	var top [2]string
	for sc, n := range freq {
		if n > freq[top] || n == freq[top] && sc[1] < top[1] {
			top = sc
		}
	}
	want := map[string]bool{}
	subjects := map[string]bool{}
	for _, c := range data["Condition"] {
		for _, sc := range codings(c["code"]) {
			if sc == top {
				want[c["id"].(string)] = true
				subjects[strings.TrimPrefix(ref(c, "subject"), "Patient/")] = true
			}
		}
	}
	expect(t, s, "Condition", map[string]any{"code": top[0] + "|" + top[1]}, want)
	expect(t, s, "Condition", map[string]any{"code": top[1]}, want)
	expect(t, s, "Patient", map[string]any{"_has": map[string]any{"Condition": map[string]any{"patient": map[string]any{"code": top[0] + "|" + top[1]}}}}, subjects)

	// Token on a Coding: encounter class.
	for _, class := range []string{"AMB", "EMER", "IMP"} {
		want := map[string]bool{}
		for _, e := range data["Encounter"] {
			if cm, _ := e["class"].(map[string]any); cm["code"] == class {
				want[e["id"].(string)] = true
			}
		}
		expect(t, s, "Encounter", map[string]any{"class": class}, want)
	}

	// Dates on periods: Encounter date ge/lt a day, with the spec's range semantics.
	day := "2020-01-01"
	dLo, dHi := instant(t, day+"T00:00:00Z"), instant(t, day+"T23:59:59.999Z")
	ge, lt := map[string]bool{}, map[string]bool{}
	for _, e := range data["Encounter"] {
		p, _ := e["period"].(map[string]any)
		start := instant(t, p["start"].(string))
		end := start
		if es, ok := p["end"].(string); ok {
			end = instant(t, es)
		}
		if end.After(dHi) || !start.Before(dLo) && !end.After(dHi) {
			ge[e["id"].(string)] = true
		}
		if start.Before(dLo) {
			lt[e["id"].(string)] = true
		}
	}
	expect(t, s, "Encounter", map[string]any{"date": "ge" + day}, ge)
	expect(t, s, "Encounter", map[string]any{"date": "lt" + day}, lt)

	// Chained: conditions of female patients; typed date range on birthdate.
	female := map[string]bool{}
	born := map[string]bool{}
	for _, p := range data["Patient"] {
		if p["gender"] == "female" {
			female["Patient/"+p["id"].(string)] = true
		}
		if b := p["birthDate"].(string); b >= "1960-01-01" && b < "1990-01-01" {
			born[p["id"].(string)] = true
		}
	}
	want = map[string]bool{}
	for _, c := range data["Condition"] {
		if female[ref(c, "subject")] {
			want[c["id"].(string)] = true
		}
	}
	expect(t, s, "Condition", map[string]any{"patient": map[string]any{"Patient": map[string]any{"gender": "female"}}}, want)
	expect(t, s, "Patient", map[string]any{"birthdate": map[string]any{"ge": "1960", "lt": "1990"}}, born)

	// String: family name prefixes, case-insensitive.
	nonDigit := regexp.MustCompile(`[0-9]+`)
	for _, p := range data["Patient"][:3] {
		fam := p["name"].([]any)[0].(map[string]any)["family"].(string)
		prefix := strings.ToLower(nonDigit.ReplaceAllString(fam, ""))[:3]
		want := map[string]bool{}
		for _, q := range data["Patient"] {
			for _, n := range q["name"].([]any) {
				if f, _ := n.(map[string]any)["family"].(string); strings.HasPrefix(strings.ToLower(f), prefix) {
					want[q["id"].(string)] = true
				}
			}
		}
		expect(t, s, "Patient", map[string]any{"family": strings.ToUpper(prefix)}, want)
	}
}

// TestSearchOfficialExamplesAgainstRawJSON: for every example type and every token
// parameter whose expression is a plain code element (Type.status and the like), each
// value found in the examples finds exactly the examples holding it.
func TestSearchOfficialExamplesAgainstRawJSON(t *testing.T) {
	var raws [][]byte
	for _, f := range datasets.Files(t, datasets.FHIRExamples, "*.json") {
		raws = append(raws, f.Data)
	}
	s := newStore(t)
	data := loadJSON(t, s, raws)
	plain := regexp.MustCompile(`^([A-Z][A-Za-z]+)\.([a-z][A-Za-z]+)$`)
	checked := 0
	for typ, res := range data {
		for _, p := range paramsOf(typ) {
			m := plain.FindStringSubmatch(p.Expression)
			if p.Type != "token" || m == nil || m[1] != typ {
				continue
			}
			byValue := map[string]map[string]bool{}
			for _, r := range res {
				if v, ok := r[m[2]].(string); ok {
					if byValue[v] == nil {
						byValue[v] = map[string]bool{}
					}
					byValue[v][r["id"].(string)] = true
				}
			}
			for v, want := range byValue {
				expect(t, s, typ, map[string]any{ArgName(p.Code): v}, want)
				checked++
			}
		}
	}
	if checked < 50 {
		t.Fatalf("only %d searches checked", checked)
	}
	t.Logf("%d token searches over %d official examples match the raw JSON", checked, len(raws))
}
