package api_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/internal/datasets"
	"github.com/fhirgate/fhirgate/validate"
)

// The round-trip tests write real FHIR resources through XUpdate and read them back through X(id:)
// with a selection set built from the resource itself, so every element the input carries is
// asked for by its schema name. The answer must equal the input, digit for digit, apart from the
// server-managed meta.versionId and meta.lastUpdated. An element the schema lacks fails the read
// with the GraphQL validation error; an element that is stored but lost or changed on the way
// fails the comparison with its path.

const (
	// syntheaShortStride samples Synthea under -short: the first line of each file and every
	// 20th after it, 365 of the 7160 resources, spread over all 13 files.
	syntheaShortStride = 20
	// roundTripWorkers is how many resources are in flight at once: enough to keep two cores
	// busy between HTTP, GraphQL and the embedded engine, few enough for a shared CI machine.
	roundTripWorkers = 4
)

// roundTripCase is one resource to round-trip and where it came from.
type roundTripCase struct {
	source string         // file name, or file:line for NDJSON
	typ    string         // resourceType
	id     string         // id to write under
	res    map[string]any // the resource as sent, numbers as json.Number
}

// TestRoundTripOfficialExamples round-trips every official R4 example, Bundles and contained
// resources included.
func TestRoundTripOfficialExamples(t *testing.T) {
	var cases []roundTripCase
	for _, f := range datasets.Files(t, datasets.FHIRExamples, "*.json") {
		cases = append(cases, newRoundTripCase(t, f.Name, f.Data, idFromFileName(f.Name)))
	}
	// The package ships 699 examples of 124 types; fewer means the data went missing.
	types := map[string]bool{}
	for _, c := range cases {
		types[c.typ] = true
	}
	if len(cases) != 699 || len(types) != 124 {
		t.Errorf("read %d examples of %d types, want 699 of 124", len(cases), len(types))
	}
	runRoundTrips(t, cases)
}

// TestRoundTripSynthea round-trips every resource of the Synthea export: about 65 s on two idle
// cores, under 2 min on a busy machine. With -short it takes a fixed sample of 365 instead.
func TestRoundTripSynthea(t *testing.T) {
	var cases []roundTripCase
	for _, f := range datasets.Files(t, datasets.Synthea, "*.000.ndjson") {
		name := f.Name
		sc := bufio.NewScanner(bytes.NewReader(f.Data))
		sc.Buffer(nil, 64<<20) // DocumentReference lines carry whole notes in base64
		for line := 1; sc.Scan(); line++ {
			if len(bytes.TrimSpace(sc.Bytes())) == 0 {
				continue
			}
			if testing.Short() && (line-1)%syntheaShortStride != 0 {
				continue
			}
			cases = append(cases, newRoundTripCase(t, fmt.Sprintf("%s:%d", name, line), sc.Bytes(), ""))
		}
		if err := sc.Err(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// 7160 resources of 13 types, per SOURCE.md.
	switch {
	case testing.Short():
		t.Logf("-short: sampling every %dth line of each file, %d resources", syntheaShortStride, len(cases))
	case len(cases) != 7160:
		t.Errorf("read %d Synthea resources, want 7160", len(cases))
	}
	runRoundTrips(t, cases)
}

// TestRoundTripDecimalDigits checks on the wire that decimals keep their trailing zeros, which a
// float64 anywhere between the request and the response would drop.
func TestRoundTripDecimalDigits(t *testing.T) {
	e := newEnv(t)
	obs := `{"resourceType":"Observation","id":"digits","status":"final",
		"code":{"text":"digits"},
		"valueQuantity":{"value":1.50,"unit":"mg"},
		"component":[{"code":{"text":"c"},"valueQuantity":{"value":0.0100,"unit":"g"}}]}`
	res := decodeJSON(t, []byte(obs))
	sel := `{ valueQuantity { value } component { valueQuantity { value } } }`
	for _, tc := range []struct {
		name, query string
		vars        map[string]any
	}{
		{"update", `mutation ($res: ObservationInput!) { ObservationUpdate(id: "digits", res: $res) ` + sel + ` }`, map[string]any{"res": res}},
		{"read", `{ Observation(id: "digits") ` + sel + ` }`, nil},
	} {
		body, r, err := postGraphQL(e, tc.query, tc.vars)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(r.Errors) > 0 {
			t.Fatalf("%s: errors %+v", tc.name, r.Errors)
		}
		for _, want := range []string{"1.50", "0.0100"} {
			re := regexp.MustCompile(`"value":\s*` + regexp.QuoteMeta(want) + `[^0-9]`)
			if !re.Match(body) {
				t.Errorf("%s: response lacks value %s: %s", tc.name, want, truncate(string(body), 300))
			}
		}
	}
}

// TestRoundTripComparison checks the comparison the round-trip tests rely on, so that a lenient
// comparer cannot make them pass.
func TestRoundTripComparison(t *testing.T) {
	for _, tc := range []struct {
		name, want, got string
		diff            string // "" for equal
	}{
		{"equal", `{"a":[1.50,"x"]}`, `{"a":[1.50,"x"]}`, ""},
		{"digits", `{"a":1.50}`, `{"a":1.5}`, `R.a: got 1.5, want 1.50`},
		{"null member dropped", `{"a":1}`, `{"a":1,"b":null}`, ""},
		{"null element kept", `{"given":["x",null]}`, `{"given":["x"]}`, `R.given: 1 elements, want 2`},
		{"empty list is not absent", `{"a":1}`, `{"a":1,"b":[]}`, `R.b: not in the input, got []`},
		{"missing", `{"a":1,"b":{"c":true}}`, `{"a":1,"b":{}}`, `R.b.c: missing from the response, want true`},
		{"alias taken off", `{"entry":[{"resource":{"resourceType":"Patient","name":[{"family":"F"}]}}]}`,
			`{"entry":[{"resource":{"resourceType":"Patient","Patient__name":[{"family":"F","given":null}]}}]}`, ""},
	} {
		want := decodeJSON(t, []byte(tc.want))
		got := normalizeResponse(decodeJSON(t, []byte(tc.got)))
		if d := firstDiff("R", want, got); d != tc.diff {
			t.Errorf("%s: firstDiff = %q, want %q", tc.name, d, tc.diff)
		}
	}
	sel := newSelection()
	sel.add(decodeJSON(t, []byte(`{"resourceType":"Bundle","entry":[
		{"resource":{"resourceType":"Patient","name":[{"family":"F"},{"given":["G"]}]}},
		{"resource":{"resourceType":"Organization","name":"O"}, "fullUrl":"u"}]}`)))
	var b strings.Builder
	sel.write(&b)
	const want = `{ entry { fullUrl resource { resourceType ... on Organization { Organization__name: name } ... on Patient { Patient__name: name { family given } } } } resourceType }`
	if b.String() != want {
		t.Errorf("selection:\n got %s\nwant %s", b.String(), want)
	}
}

// newRoundTripCase decodes one resource, keeping numbers as written. A resource without an id
// gets fallbackID, and is compared with that id since the server echoes it back.
func newRoundTripCase(t *testing.T, source string, data []byte, fallbackID string) roundTripCase {
	t.Helper()
	res := decodeJSON(t, data)
	typ, _ := res["resourceType"].(string)
	if typ == "" {
		t.Fatalf("%s: no resourceType", source)
	}
	id, _ := res["id"].(string)
	if id == "" {
		if fallbackID == "" {
			t.Fatalf("%s: no id", source)
		}
		id = fallbackID
		res["id"] = id
	}
	return roundTripCase{source: source, typ: typ, id: id, res: res}
}

// idFromFileName derives a valid FHIR id from an example's name, <Type>-<id>.json.
func idFromFileName(name string) string {
	s := strings.TrimSuffix(name, ".json")
	if _, rest, ok := strings.Cut(s, "-"); ok {
		s = rest
	}
	s = regexp.MustCompile(`[^A-Za-z0-9.-]`).ReplaceAllString(s, "-")
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

func decodeJSON(t testing.TB, data []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return v
}

// runRoundTrips round-trips every case through one server and reports each failure with its
// source and the first path where the answer differs from the input.
func runRoundTrips(t *testing.T, cases []roundTripCase) {
	t.Helper()
	// The limits bound hostile queries; these selections are as deep and wide as the examples
	// (a StructureDefinition snapshot, a Bundle of Bundles), which is not what is under test here.
	// Validation is warn: fidelity is under test, and 9 official examples break a rule of the
	// specification (validate's tests list them), which strict refuses.
	e := newEnv(t, func(c *api.Config) { c.Limits = api.Limits{}; c.Validation = validate.Warn })
	start := time.Now()
	errs := make([]error, len(cases))
	next := make(chan int)
	var wg sync.WaitGroup
	for range roundTripWorkers {
		wg.Go(func() {
			for i := range next {
				errs[i] = roundTrip(e, cases[i])
			}
		})
	}
	for i := range cases {
		next <- i
	}
	close(next)
	wg.Wait()

	types := map[string]int{}
	var failed []string
	for i, c := range cases {
		if errs[i] != nil {
			failed = append(failed, c.source)
			t.Errorf("%s (%s/%s): %v", c.source, c.typ, c.id, errs[i])
			continue
		}
		types[c.typ]++
	}
	t.Logf("round-tripped %d of %d resources (%d types) in %v", len(cases)-len(failed), len(cases), len(types), time.Since(start).Round(time.Millisecond))
	if len(failed) > 0 {
		t.Logf("%d failing: %s", len(failed), strings.Join(failed, " "))
	}
}

// roundTrip writes c through XUpdate, reads it back with a selection of exactly its elements and
// compares. It returns nil when the answer equals the input.
func roundTrip(e *env, c roundTripCase) error {
	upd := fmt.Sprintf(`mutation ($id: ID!, $res: %sInput!) { %sUpdate(id: $id, res: $res) { id meta { versionId } } }`, c.typ, c.typ)
	_, r, err := postGraphQL(e, upd, map[string]any{"id": c.id, "res": c.res})
	if err != nil {
		return fmt.Errorf("update: %w", err)
	}
	if len(r.Errors) > 0 {
		return fmt.Errorf("update: status %d, errors %s", r.Status, errorMessages(r.Errors))
	}
	var written struct {
		ID   string `json:"id"`
		Meta struct {
			VersionID string `json:"versionId"`
		} `json:"meta"`
	}
	if err := json.Unmarshal(r.Data[c.typ+"Update"], &written); err != nil {
		return fmt.Errorf("update: %w in %s", err, r.Data[c.typ+"Update"])
	}
	if written.ID != c.id || written.Meta.VersionID != "1" {
		return fmt.Errorf("update: got id %q version %q, want id %q version \"1\"", written.ID, written.Meta.VersionID, c.id)
	}

	sel := newSelection()
	sel.add(c.res)
	var q strings.Builder
	fmt.Fprintf(&q, "query ($id: ID!) { %s(id: $id) ", c.typ)
	sel.write(&q)
	q.WriteString(" }")
	_, r, err = postGraphQL(e, q.String(), map[string]any{"id": c.id})
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if len(r.Errors) > 0 {
		return fmt.Errorf("read: status %d, errors %s", r.Status, errorMessages(r.Errors))
	}
	dec := json.NewDecoder(bytes.NewReader(r.Data[c.typ]))
	dec.UseNumber()
	var got any
	if err := dec.Decode(&got); err != nil {
		return fmt.Errorf("read: %w in %s", err, truncate(string(r.Data[c.typ]), 200))
	}
	gotRes, ok := normalizeResponse(got).(map[string]any)
	if !ok {
		return fmt.Errorf("read: got %s, want the resource", truncate(string(r.Data[c.typ]), 200))
	}
	want := withOwnMeta(c.res)
	dropServerMeta(want)
	dropServerMeta(gotRes)
	if c.typ == "Subscription" {
		// R4: the server manages a Subscription's status and error (requested, then active or
		// error, with why); what the client sends there is a request.
		for _, m := range []map[string]any{want, gotRes} {
			delete(m, "status")
			delete(m, "error")
		}
	}
	if d := firstDiff(c.typ, want, gotRes); d != "" {
		return fmt.Errorf("read back differs at %s", d)
	}
	return nil
}

// withOwnMeta returns a copy of m whose top-level meta may be edited without touching m.
func withOwnMeta(m map[string]any) map[string]any {
	out := maps.Clone(m)
	if meta, ok := m["meta"].(map[string]any); ok {
		out["meta"] = maps.Clone(meta)
	}
	return out
}

// dropServerMeta removes what the server stamps on a write, and meta itself when nothing else is left.
func dropServerMeta(res map[string]any) {
	meta, ok := res["meta"].(map[string]any)
	if !ok {
		return
	}
	delete(meta, "versionId")
	delete(meta, "lastUpdated")
	if len(meta) == 0 {
		delete(res, "meta")
	}
}

// postGraphQL is env.post for worker goroutines: it returns transport failures instead of
// failing the test, and also returns the raw body.
func postGraphQL(e *env, query string, vars map[string]any) ([]byte, *gqlResponse, error) {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return nil, nil, err
	}
	resp, err := http.Post(e.srv.URL+"/$graphql", "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	out := &gqlResponse{}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return b, nil, fmt.Errorf("status %d, undecodable body %q", resp.StatusCode, truncate(string(b), 300))
	}
	out.Status = resp.StatusCode
	return b, out, nil
}

func errorMessages(errs []gqlError) string {
	var msgs []string
	for _, e := range errs {
		m := e.Message
		if len(e.Path) > 0 {
			m += fmt.Sprintf(" (path %v)", e.Path)
		}
		msgs = append(msgs, m)
	}
	return truncate(strings.Join(msgs, "; "), 1000)
}

// selection is a GraphQL selection set built from JSON: the union of the keys of every object
// it was given. A field whose values are resources (objects with a resourceType) is selected
// through one inline fragment per resource type present.
type selection struct {
	fields map[string]*selection // nil value: a leaf
	// resources is non-nil when this is the selection of a resource-typed field, by resource type.
	resources map[string]*selection
}

func newSelection() *selection { return &selection{fields: map[string]*selection{}} }

// add merges the keys of obj into s.
func (s *selection) add(obj map[string]any) {
	for k, v := range obj {
		var objs []map[string]any
		switch v := v.(type) {
		case map[string]any:
			objs = append(objs, v)
		case []any:
			for _, el := range v {
				if m, ok := el.(map[string]any); ok {
					objs = append(objs, m)
				}
			}
		}
		if len(objs) == 0 {
			if _, ok := s.fields[k]; !ok {
				s.fields[k] = nil
			}
			continue
		}
		child := s.fields[k]
		if child == nil {
			child = newSelection()
			s.fields[k] = child
		}
		for _, o := range objs {
			rt, ok := o["resourceType"].(string)
			if !ok {
				child.add(o)
				continue
			}
			if child.resources == nil {
				child.resources = map[string]*selection{}
			}
			frag := child.resources[rt]
			if frag == nil {
				frag = newSelection()
				child.resources[rt] = frag
			}
			frag.add(o)
		}
	}
}

// write writes s as a selection set. Fields inside a resource fragment are aliased <Type>__<field>:
// the same element name can have different types in different resources (Patient.name is a
// list of HumanName, Organization.name a String), which GraphQL refuses to merge under one name.
// normalizeResponse takes the aliases off again.
func (s *selection) write(b *strings.Builder) {
	b.WriteString("{")
	s.writeFields(b, "")
	if s.resources != nil {
		b.WriteString(" resourceType")
		for _, rt := range slices.Sorted(maps.Keys(s.resources)) {
			fmt.Fprintf(b, " ... on %s {", rt)
			s.resources[rt].writeFields(b, rt+"__")
			b.WriteString(" }")
		}
	}
	b.WriteString(" }")
}

func (s *selection) writeFields(b *strings.Builder, alias string) {
	for _, k := range slices.Sorted(maps.Keys(s.fields)) {
		if alias != "" && k == "resourceType" {
			continue // selected once, unaliased, beside the fragments
		}
		b.WriteString(" ")
		if alias != "" {
			b.WriteString(alias + k + ": ")
		}
		b.WriteString(k)
		if child := s.fields[k]; child != nil {
			b.WriteString(" ")
			child.write(b)
		}
	}
}

// normalizeResponse drops null members of objects (the union-of-keys selection asks every element
// for every key some element has) and takes the <Type>__ aliases off resource fields. Nulls inside
// arrays stay: FHIR JSON uses them to align a primitive array with its _array of extensions.
func normalizeResponse(v any) any {
	switch v := v.(type) {
	case map[string]any:
		prefix := ""
		if rt, ok := v["resourceType"].(string); ok {
			prefix = rt + "__"
		}
		out := make(map[string]any, len(v))
		for k, x := range v {
			if x == nil {
				continue
			}
			out[strings.TrimPrefix(k, prefix)] = normalizeResponse(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = normalizeResponse(x)
		}
		return out
	}
	return v
}

// firstDiff returns where got first differs from want, or "" when they are equal. Numbers
// compare by their text, so 1.50 differs from 1.5.
func firstDiff(path string, want, got any) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return mismatch(path, want, got)
		}
		var extra []string
		for k := range g {
			if _, ok := w[k]; !ok {
				extra = append(extra, k)
			}
		}
		slices.Sort(extra)
		for _, k := range append(slices.Sorted(maps.Keys(w)), extra...) {
			gv, inG := g[k]
			wv, inW := w[k]
			switch {
			case !inG:
				return fmt.Sprintf("%s.%s: missing from the response, want %s", path, k, show(wv))
			case !inW:
				return fmt.Sprintf("%s.%s: not in the input, got %s", path, k, show(gv))
			}
			if d := firstDiff(path+"."+k, wv, gv); d != "" {
				return d
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok {
			return mismatch(path, want, got)
		}
		for i := range min(len(w), len(g)) {
			if d := firstDiff(fmt.Sprintf("%s[%d]", path, i), w[i], g[i]); d != "" {
				return d
			}
		}
		if len(w) != len(g) {
			return fmt.Sprintf("%s: %d elements, want %d", path, len(g), len(w))
		}
		return ""
	case json.Number:
		if g, ok := got.(json.Number); !ok || g != w {
			return mismatch(path, want, got)
		}
		return ""
	default:
		if want != got {
			return mismatch(path, want, got)
		}
		return ""
	}
}

func mismatch(path string, want, got any) string {
	return fmt.Sprintf("%s: got %s, want %s", path, show(got), show(want))
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return truncate(string(b), 200)
}
