package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/internal/datasets"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/validate"
)

// putAll stores raw resources in commits of 200, meta dropped (the stored meta is the server's).
func putAll(t testing.TB, store *storage.Store, raws [][]byte) {
	t.Helper()
	var writes []storage.Write
	for _, raw := range raws {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "meta")
		b, _ := json.Marshal(m)
		res, err := model.Unmarshal(b)
		if err != nil {
			t.Fatalf("%v: %s", err, truncate(string(raw), 100))
		}
		writes = append(writes, storage.Write{Op: storage.OpPut, Type: res.TypeName(), ID: res.ResourceID(), Resource: res})
	}
	for len(writes) > 0 {
		n := min(len(writes), 200)
		if _, err := store.Commit(context.Background(), writes[:n]); err != nil {
			t.Fatal(err)
		}
		writes = writes[n:]
	}
}

// syntheaResources returns the Synthea data set's resources by type, as raw JSON lines.
func syntheaResources(t testing.TB) map[string][][]byte {
	t.Helper()
	out := map[string][][]byte{}
	for _, f := range datasets.Files(t, datasets.Synthea, "*.000.ndjson") {
		typ := strings.TrimSuffix(f.Name, ".000.ndjson")
		sc := bufio.NewScanner(bytes.NewReader(f.Data))
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
				out[typ] = append(out[typ], bytes.Clone(line))
			}
		}
	}
	return out
}

// aggGroup is a group as the tests read it.
type aggGroup struct {
	Key   []*string
	Count int
	Stats []aggStats
}

type aggStats struct {
	Name        string
	Unit        *string
	Count       int
	Min, Max    *float64
	Mean, Sum   *float64
	Percentiles []*float64
}

type aggResult struct {
	Count      int
	Stats      []aggStats
	Groups     []aggGroup
	Suppressed int
}

// aggregate runs one aggregate as token (none: authentication off) and decodes it.
func (e *env) aggregate(t testing.TB, token, args string) (*aggResult, *gqlResponse) {
	t.Helper()
	q := `{ aggregate(` + args + `) { count suppressed stats { name unit count min max mean sum percentiles } groups { key count stats { name unit count min max mean sum percentiles } } } }`
	r := e.postAs(token, "", q)
	if len(r.Errors) > 0 {
		return nil, r
	}
	var out aggResult
	if err := json.Unmarshal(r.Data["aggregate"], &out); err != nil {
		t.Fatal(err)
	}
	return &out, r
}

// counts returns an aggregate's groups as "key1,key2" -> count, "<none>" for a null key.
func (a *aggResult) counts() map[string]int {
	out := map[string]int{}
	for _, g := range a.Groups {
		var parts []string
		for _, k := range g.Key {
			if k == nil {
				parts = append(parts, "<none>")
			} else {
				parts = append(parts, *k)
			}
		}
		out[strings.Join(parts, ",")] += g.Count
	}
	return out
}

// simplePath matches a search parameter expression's part that reads one element of the type:
// Type.element.
var simplePath = regexp.MustCompile(`^([A-Z][A-Za-z]+)\.([a-z][A-Za-z]*)$`)

// oracleField returns the element a parameter of typ reads, when its expression reads one
// element of typ directly; "" otherwise.
func oracleField(typ string, p model.SearchParam) string {
	var field string
	for _, part := range strings.Split(p.Expression, "|") {
		m := simplePath.FindStringSubmatch(strings.TrimSpace(part))
		if m != nil && m[1] == typ {
			if field != "" {
				return ""
			}
			field = m[2]
		}
	}
	return field
}

// oracleValues computes, from a resource's raw JSON alone, the group keys of element field for
// a parameter of type ptype: codes as written, system|code of codings, references as written,
// the UTC year of dates. ok is false for a shape the oracle does not read.
func oracleValues(ptype string, v any) (vals []string, ok bool) {
	switch ptype {
	case "token":
		switch x := v.(type) {
		case string:
			return []string{x}, true
		case bool:
			return []string{fmt.Sprint(x)}, true
		case map[string]any:
			if _, isValue := x["value"]; isValue {
				return nil, false // identifiers and contact points: not read here
			}
			codings, _ := x["coding"].([]any)
			if codings == nil && x["code"] != nil {
				codings = []any{x}
			}
			for _, c := range codings {
				cm := c.(map[string]any)
				code, _ := cm["code"].(string)
				sys, _ := cm["system"].(string)
				switch {
				case code == "":
				case sys == "":
					vals = append(vals, code)
				default:
					vals = append(vals, sys+"|"+code)
				}
			}
			return vals, true
		}
	case "reference":
		if x, isObj := v.(map[string]any); isObj {
			ref, _ := x["reference"].(string)
			if regexp.MustCompile(`^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$`).MatchString(ref) {
				return []string{ref}, true
			}
		}
	case "date":
		s, isString := v.(string)
		if x, isObj := v.(map[string]any); isObj {
			s, isString = x["start"].(string)
		}
		if !isString {
			return nil, false
		}
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02", "2006-01", "2006"} {
			if tm, err := time.Parse(layout, s); err == nil {
				return []string{tm.UTC().Format("2006")}, true
			}
		}
	}
	return nil, false
}

// oracleCounts groups raws by the values oracleValues reads from field, distinct per resource.
func oracleCounts(raws [][]byte, ptype, field string) (map[string]int, bool) {
	out := map[string]int{}
	for _, raw := range raws {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, false
		}
		seen := map[string]bool{}
		val := m[field]
		for k, v := range m { // a choice element: occurrenceDateTime for occurrence
			if rest, isChoice := strings.CutPrefix(k, field); isChoice && rest != "" && rest[0] >= 'A' && rest[0] <= 'Z' {
				val = v
			}
		}
		vs := []any{val}
		if l, isList := val.([]any); isList {
			vs = l
		}
		for _, v := range vs {
			if v == nil {
				continue
			}
			keys, ok := oracleValues(ptype, v)
			if !ok {
				return nil, false
			}
			for _, k := range keys {
				seen[k] = true
			}
		}
		if len(seen) == 0 {
			out["<none>"]++
		}
		for k := range seen {
			out[k]++
		}
	}
	return out, true
}

// TestAggregateMatchesRawSynthea loads the Synthea data set and checks, for every type in it,
// the count of all its resources and, for every token, reference and date search parameter of
// the type that reads one element directly (enumerated from the parameter table), the grouped
// counts (dates by year) against counts computed from the raw JSON alone.
func TestAggregateMatchesRawSynthea(t *testing.T) {
	e := newEnv(t)
	byType := syntheaResources(t)
	start := time.Now()
	for _, raws := range byType {
		putAll(t, e.store, raws)
	}
	t.Logf("loaded in %v", time.Since(start))
	start = time.Now()
	defer func() { t.Logf("aggregated in %v", time.Since(start)) }()
	types, params, skipped := 0, 0, 0
	for _, typ := range slices.Sorted(maps.Keys(byType)) {
		raws := byType[typ]
		types++
		got, r := e.aggregate(t, "", "type: "+typ)
		if got == nil {
			t.Fatalf("%s: %+v", typ, r.Errors)
		}
		if got.Count != len(raws) || len(got.Groups) != 0 {
			t.Errorf("%s: count %d, groups %d; the data set has %d", typ, got.Count, len(got.Groups), len(raws))
		}
		for _, p := range model.SearchParams(typ) {
			field := oracleField(typ, p)
			if field == "" || p.Type != "token" && p.Type != "reference" && p.Type != "date" {
				continue
			}
			want, ok := oracleCounts(raws, p.Type, field)
			if !ok {
				skipped++
				continue
			}
			args := fmt.Sprintf("type: %s, groupBy: [{param: %q}]", typ, p.Code)
			if p.Type == "date" {
				args = fmt.Sprintf("type: %s, groupBy: [{param: %q, bucket: YEAR}]", typ, p.Code)
			}
			got, r := e.aggregate(t, "", args)
			if got == nil {
				t.Errorf("%s: %+v", args, r.Errors)
				continue
			}
			params++
			if !maps.Equal(got.counts(), want) {
				t.Errorf("%s:\n got %v\nwant %v", args, got.counts(), want)
			}
			if plans, _ := r.Extensions["aggregatePlans"].(map[string]any); plans["aggregate"] == nil {
				t.Errorf("%s: no plan reported: %v", args, r.Extensions)
			}
		}
	}
	if types != 13 || params < 30 {
		t.Errorf("checked %d types and %d parameters; the data set has 13 types", types, params)
	}
	t.Logf("checked the counts of %d types and the groups of %d parameters (%d read shapes the oracle does not)", types, params, skipped)

	// Two keys: the groups are the pairs of values.
	got, r := e.aggregate(t, "", `type: Condition, groupBy: [{param: "clinical-status"}, {fhirpath: "subject.reference"}]`)
	if got == nil {
		t.Fatal(r.Errors)
	}
	want := map[string]int{}
	for _, raw := range byType["Condition"] {
		var c struct {
			ClinicalStatus struct {
				Coding []struct{ System, Code string }
			}
			Subject struct{ Reference string }
		}
		json.Unmarshal(raw, &c)
		want[c.ClinicalStatus.Coding[0].System+"|"+c.ClinicalStatus.Coding[0].Code+","+c.Subject.Reference]++
	}
	if !maps.Equal(got.counts(), want) || len(want) < 10 {
		t.Errorf("two keys:\n got %v\nwant %v", got.counts(), want)
	}
	// Groups come by descending count.
	for i := 1; i < len(got.Groups); i++ {
		if got.Groups[i].Count > got.Groups[i-1].Count {
			t.Errorf("groups out of order at %d: %d after %d", i, got.Groups[i].Count, got.Groups[i-1].Count)
		}
	}

	// A FHIRPath measure with percentiles: the patients' quality-adjusted life years.
	const qaly = "http://synthetichealth.github.io/synthea/quality-adjusted-life-years"
	got, r = e.aggregate(t, "", `type: Patient, groupBy: [{param: "gender"}], measures: [{name: "qaly", fhirpath: "extension.where(url = '`+qaly+`').value", percentiles: [0, 25, 50, 90, 100]}]`)
	if got == nil {
		t.Fatal(r.Errors)
	}
	var all []float64
	byGender := map[string][]float64{}
	for _, raw := range byType["Patient"] {
		var p struct {
			Gender    string
			Extension []struct {
				URL          string
				ValueDecimal *float64
			}
		}
		json.Unmarshal(raw, &p)
		for _, x := range p.Extension {
			if x.URL == qaly && x.ValueDecimal != nil {
				all = append(all, *x.ValueDecimal)
				byGender[p.Gender] = append(byGender[p.Gender], *x.ValueDecimal)
			}
		}
	}
	checkStats(t, "all patients", got.Stats, all, []float64{0, 25, 50, 90, 100})
	for _, g := range got.Groups {
		checkStats(t, "gender "+*g.Key[0], g.Stats, byGender[*g.Key[0]], []float64{0, 25, 50, 90, 100})
	}
	if len(got.Groups) != len(byGender) || len(all) == 0 {
		t.Errorf("%d gender groups, want %d; %d values", len(got.Groups), len(byGender), len(all))
	}
}

// checkStats compares one measure's statistics (a single unit) with values computed here:
// percentiles by linear interpolation between the closest ranks.
func checkStats(t *testing.T, what string, got []aggStats, vals []float64, pcts []float64) {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("%s: %d stats rows, want 1: %+v", what, len(got), got)
	}
	s := got[0]
	sorted := slices.Sorted(slices.Values(vals))
	sum := 0.0
	for _, v := range vals {
		sum += v
	}
	near := func(a *float64, b float64) bool { return a != nil && math.Abs(*a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
	if s.Count != len(vals) || !near(s.Min, sorted[0]) || !near(s.Max, sorted[len(sorted)-1]) || !near(s.Sum, sum) || !near(s.Mean, sum/float64(len(vals))) || s.Unit != nil {
		t.Errorf("%s: %+v, want count %d min %v max %v sum %v", what, s, len(vals), sorted[0], sorted[len(sorted)-1], sum)
	}
	for i, p := range pcts {
		h := float64(len(sorted)-1) * p / 100
		lo := int(h)
		want := sorted[lo]
		if lo+1 < len(sorted) {
			want += (h - float64(lo)) * (sorted[lo+1] - sorted[lo])
		}
		if i >= len(s.Percentiles) || !near(s.Percentiles[i], want) {
			t.Errorf("%s: percentile %v = %v, want %v", what, p, s.Percentiles, want)
		}
	}
}

// TestAggregateMatchesRawExamples checks, on the official examples, the statistics of the
// value-quantity parameter per unit code, and the Observation counts by category, against the
// raw JSON.
func TestAggregateMatchesRawExamples(t *testing.T) {
	e := newEnv(t, func(c *api.Config) { c.Validation = validate.Off }) // some examples break R4's own rules
	var raws [][]byte
	var obs []map[string]any
	for _, f := range datasets.Files(t, datasets.FHIRExamples, "*.json") {
		raws = append(raws, f.Data)
		if strings.HasPrefix(f.Name, "Observation-") {
			var m map[string]any
			json.Unmarshal(f.Data, &m)
			obs = append(obs, m)
		}
	}
	putAll(t, e.store, raws)
	got, r := e.aggregate(t, "", `type: Observation, measures: [{param: "value-quantity"}]`)
	if got == nil {
		t.Fatal(r.Errors)
	}
	type acc struct {
		n             int
		min, max, sum float64
	}
	want := map[string]*acc{}
	for _, m := range obs {
		q, _ := m["valueQuantity"].(map[string]any)
		v, isNum := q["value"].(float64)
		if !isNum {
			continue
		}
		code, _ := q["code"].(string)
		a := want[code]
		if a == nil {
			a = &acc{min: v, max: v}
			want[code] = a
		}
		a.n, a.sum, a.min, a.max = a.n+1, a.sum+v, min(a.min, v), max(a.max, v)
	}
	if len(got.Stats) != len(want) || len(want) < 10 {
		t.Errorf("%d units, want %d: %+v", len(got.Stats), len(want), got.Stats)
	}
	for _, s := range got.Stats {
		w := want[*s.Unit]
		if w == nil || s.Count != w.n || *s.Min != w.min || *s.Max != w.max || math.Abs(*s.Sum-w.sum) > 1e-9 || s.Name != "value-quantity" {
			t.Errorf("unit %s: %+v, want %+v", *s.Unit, s, w)
		}
	}
	if got.Count != len(obs) {
		t.Errorf("count %d, want %d", got.Count, len(obs))
	}
	aggregateEveryType(t, e, raws)

	// The same through a FHIRPath measure, and where narrowing the matches.
	got, r = e.aggregate(t, "", `type: Observation, where: {value_quantity: "gt100"}, measures: [{fhirpath: "value.ofType(Quantity)"}]`)
	if got == nil {
		t.Fatal(r.Errors)
	}
	n := 0
	for _, s := range got.Stats {
		n += s.Count
		if *s.Min <= 100 {
			t.Errorf("where value_quantity > 100: min %v", *s.Min)
		}
	}
	if n != got.Count || n == 0 {
		t.Errorf("where value_quantity > 100: %d values of %d matches", n, got.Count)
	}
}

// TestAggregateDeidentified: grouping or measuring by what an analyst may not read is refused as
// searching by it is; with a minimum cell size, small groups are suppressed for the analyst (who
// reads Patient de-identified) and not for a clinician, an aggregate of fewer matches is refused,
// and a configured role list replaces the automatic choice.
func TestAggregateDeidentified(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{}, func(c *api.Config) { c.MinCellSize = 3 })
	var pats []string
	for i, g := range []string{"female", "female", "female", "female", "male", "male", "other"} {
		pats = append(pats, fmt.Sprintf(`{"resourceType":"Patient","id":"p%d","gender":%q,"birthDate":"%d-01-01","name":[{"family":"F%d"}],"address":[{"city":"C%d","state":"MA"}]}`, i, g, 1950+i, i, i%2))
	}
	a.put(pats...)
	analyst, clinician := a.token(t, "analyst", ""), a.token(t, "clinician", "")

	got, r := a.aggregate(t, analyst, `type: Patient, groupBy: [{param: "gender"}]`)
	if got == nil {
		t.Fatal(r.Errors)
	}
	if !maps.Equal(got.counts(), map[string]int{"female": 4}) || got.Suppressed != 2 || got.Count != 7 {
		t.Errorf("analyst: %v, suppressed %d, count %d", got.counts(), got.Suppressed, got.Count)
	}
	got, _ = a.aggregate(t, clinician, `type: Patient, groupBy: [{param: "gender"}]`)
	if !maps.Equal(got.counts(), map[string]int{"female": 4, "male": 2, "other": 1}) || got.Suppressed != 0 {
		t.Errorf("clinician: %v, suppressed %d", got.counts(), got.Suppressed)
	}
	if _, r := a.aggregate(t, analyst, `type: Patient, where: {gender: "male"}`); len(codes(r)) == 0 || codes(r)[0] != "FORBIDDEN" || !strings.Contains(r.Errors[0].Message, "fewer than 3") {
		t.Errorf("analyst, 2 matches: %v %s", r.Errors, dataString(r))
	}
	if got, r := a.aggregate(t, analyst, `type: Patient, where: {gender: "unknown"}`); got == nil || got.Count != 0 {
		t.Errorf("analyst, no match: %+v %v", got, r.Errors)
	}

	// Refused exactly as searching by the same fields is.
	refused := []struct{ agg, search string }{
		{`type: Patient, groupBy: [{param: "birthdate", bucket: YEAR}]`, `PatientList(birthdate: "1950") { id }`},
		{`type: Patient, groupBy: [{param: "family"}]`, `PatientList(family: "F") { id }`},
		{`type: Patient, groupBy: [{param: "address-city"}]`, `PatientList(address_city: "C") { id }`},
		{`type: Patient, groupBy: [{param: "address"}]`, `PatientList(address: "C") { id }`},
		{`type: Patient, groupBy: [{fhirpath: "birthDate"}]`, `PatientList(fhirpath: "birthDate.exists()") { id }`},
		{`type: Patient, groupBy: [{fhirpath: "address.city"}]`, `PatientList(fhirpath: "address.city.exists()") { id }`},
		{`type: Patient, where: {family: "F"}`, `PatientList(family: "F") { id }`},
		{`type: AuditEvent`, `AuditEventList { id }`},
	}
	for _, c := range refused {
		if _, r := a.aggregate(t, analyst, c.agg); len(codes(r)) == 0 || codes(r)[0] != "FORBIDDEN" {
			t.Errorf("analyst: aggregate(%s) answered %v %s", c.agg, codes(r), dataString(r))
		}
		if r := a.postAs(analyst, "", "{ "+c.search+" }"); len(codes(r)) == 0 || codes(r)[0] != "FORBIDDEN" {
			t.Errorf("analyst: %s answered %v: the aggregate's refusal should mirror it", c.search, codes(r))
		}
		if got, r := a.aggregate(t, clinician, c.agg); got == nil && !strings.Contains(c.agg, "AuditEvent") {
			t.Errorf("clinician: aggregate(%s) refused: %v", c.agg, r.Errors)
		}
	}
	// What the analyst may read groups: state (not city) and a FHIRPath key on gender.
	if got, r := a.aggregate(t, analyst, `type: Patient, groupBy: [{fhirpath: "address.state"}, {fhirpath: "gender"}]`); got == nil || !maps.Equal(got.counts(), map[string]int{"MA,female": 4}) || got.Suppressed != 2 {
		t.Errorf("analyst by state and gender: %+v %v", got, r.Errors)
	}

	// A configured role list replaces the automatic choice.
	b := newAuthEnv(t, authz.VerifierConfig{}, func(c *api.Config) { c.MinCellSize = 2; c.MinCellRoles = []string{"clinician"} })
	b.put(pats...)
	got, _ = b.aggregate(t, b.token(t, "clinician", ""), `type: Patient, groupBy: [{param: "gender"}]`)
	if !maps.Equal(got.counts(), map[string]int{"female": 4, "male": 2}) || got.Suppressed != 1 {
		t.Errorf("clinician with the role listed: %v, suppressed %d", got.counts(), got.Suppressed)
	}
	got, _ = b.aggregate(t, b.token(t, "analyst", ""), `type: Patient, groupBy: [{param: "gender"}]`)
	if got.Suppressed != 0 || len(got.Groups) != 3 {
		t.Errorf("analyst with the role unlisted: %v, suppressed %d", got.counts(), got.Suppressed)
	}
	// Roles that may search nothing do not see the field; the policy's roles that may, do.
	for _, role := range a.policy.Roles() {
		r := a.postAs(a.token(t, role, "p1"), "", `{ __type(name: "Query") { fields { name } } }`)
		if !strings.Contains(string(r.Data["__type"]), `"aggregate"`) {
			t.Errorf("role %s: no aggregate field in its schema", role)
		}
	}
}

// TestAggregateBadInput: each malformed aggregate is refused with a clear error, and the server
// goes on answering.
func TestAggregateBadInput(t *testing.T) {
	e := newEnv(t)
	e.put(`{"resourceType":"Patient","id":"p1","gender":"female","name":[{"family":"Doe"}]}`)
	cases := []struct{ args, code, msg string }{
		{`type: Patient, groupBy: [{param: "gender", fhirpath: "gender"}]`, "BAD_USER_INPUT", "not both"},
		{`type: Patient, groupBy: [{name: "x"}]`, "BAD_USER_INPUT", "give param or fhirpath"},
		{`type: Patient, groupBy: [{param: "nosuch"}]`, "BAD_USER_INPUT", `no search parameter "nosuch"`},
		{`type: Observation, groupBy: [{param: "code-value-quantity"}]`, "BAD_USER_INPUT", "composite"},
		{`type: Patient, groupBy: [{param: "gender", bucket: YEAR}]`, "BAD_USER_INPUT", "bucket applies to a date"},
		{`type: Patient, measures: [{param: "gender"}]`, "BAD_USER_INPUT", "measures take number and quantity"},
		{`type: Observation, measures: [{param: "value-quantity", percentiles: [101]}]`, "BAD_USER_INPUT", "not between 0 and 100"},
		{`type: Patient, where: {_count: 5}`, "BAD_USER_INPUT", "_count"},
		{`type: Patient, where: {_sort: ["gender"]}`, "BAD_USER_INPUT", "_sort"},
		{`type: Patient, where: "gender=female"`, "BAD_USER_INPUT", "as an object"},
		{`type: Patient, where: {nosuch: "x"}`, "BAD_USER_INPUT", "nosuch"},
		{`type: Patient, groupBy: [{fhirpath: "gender.("}]`, "BAD_USER_INPUT", "fhirpath"},
		{`type: Patient, groupBy: [{fhirpath: "nosuch"}]`, "BAD_USER_INPUT", "nosuch"},
		{`type: Patient, groupBy: [{fhirpath: "name"}]`, "BAD_USER_INPUT", "group by one of its primitive elements"},
		{`type: Patient, groupBy: [{fhirpath: "gender", bucket: MONTH}]`, "BAD_USER_INPUT", "bucket takes dates"},
		{`type: NoSuchType`, "GRAPHQL_VALIDATION_FAILED", "NoSuchType"},
	}
	for _, c := range cases {
		got, r := e.aggregate(t, "", c.args)
		if got != nil {
			t.Errorf("aggregate(%s) answered %+v", c.args, got)
			continue
		}
		if code, _ := r.Errors[0].Extensions["code"].(string); code != c.code || !strings.Contains(r.Errors[0].Message, c.msg) {
			t.Errorf("aggregate(%s): %s %q, want %s containing %q", c.args, code, r.Errors[0].Message, c.code, c.msg)
		}
	}
	if got, r := e.aggregate(t, "", `type: Patient, groupBy: [{fhirpath: "name.family"}]`); got == nil || !maps.Equal(got.counts(), map[string]int{"Doe": 1}) {
		t.Errorf("after the errors: %+v %v", got, r)
	}
}

// aggregateEveryType checks, for every resource type of the schema (model.ResourceTypes), the
// count and the groups by a FHIRPath key (the stream plan) against the ids of the stored
// examples read from their raw JSON: one group of one resource per id.
func aggregateEveryType(t *testing.T, e *env, raws [][]byte) {
	t.Helper()
	ids := map[string]map[string]int{}
	for _, raw := range raws {
		var head struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			t.Fatal(err)
		}
		if ids[head.ResourceType] == nil {
			ids[head.ResourceType] = map[string]int{}
		}
		ids[head.ResourceType][head.ID] = 1
	}
	types, present := 0, 0
	for _, typ := range model.ResourceTypes() {
		got, r := e.aggregate(t, "", fmt.Sprintf(`type: %s, groupBy: [{fhirpath: "id"}]`, typ))
		if got == nil {
			t.Errorf("%s: %+v", typ, r.Errors)
			continue
		}
		types++
		if len(ids[typ]) > 0 {
			present++
		}
		if got.Count != len(ids[typ]) || !maps.Equal(got.counts(), ids[typ]) {
			t.Errorf("%s: count %d, groups %v; the examples have %d: %v", typ, got.Count, got.counts(), len(ids[typ]), ids[typ])
		}
	}
	if types != len(model.ResourceTypes()) || types < 140 || present < 100 {
		t.Errorf("checked %d of %d types, %d of them with examples", types, len(model.ResourceTypes()), present)
	}
	t.Logf("aggregated every type: %d, %d of them with examples", types, present)
}
