package fhirpath

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/internal/datasets"
)

// The comparison with fhirpath.js (npm fhirpath, the HL7 JavaScript implementation, pinned in
// bench/fhirpath/package-lock.json) evaluates the same expressions on the same resources with
// both engines, in one run: fhirgate in process, fhirpath.js in a Node process with its R4
// model (bench/fhirpath/compare.mjs). It needs Node.js and the packages of bench/fhirpath
// (`npm ci --prefix bench/fhirpath`, which .ci/run does); without them it skips, and where
// FHIRGATE_REQUIRE_FHIRPATHJS=1 says they were installed it fails instead.
//
// Results are compared item by item after this normalisation (fhirpath.js answers plain
// JSON, with its type names beside the values):
//   - numbers by value (JSON numbers and json.Number read as float64), Integer and Decimal
//     alike: fhirpath.js turns every decimal into a JavaScript number, so 2.0 and 2 are one;
//   - dates, dateTimes, times and instants as their text, a dateTime with an offset as the
//     same instant in UTC (fhirpath.js answers arithmetic in UTC, fhirgate in the offset of
//     the operand: @2020-01-01T12:00:00+05:30 + 12 hours is one instant either way);
//   - System Quantities (computed, such as 2 'mg' + 1 'mg') as value and unit, calendar
//     units singular, and by their value in the base unit of the dimension where the unit
//     converts (1 'g' - 500 'mg' is 0.5 'g' here and 500 'mg' there: one quantity); FHIR
//     Quantities read from the resource as the objects they are;
//   - complex elements and resources as JSON with numbers by value;
//   - a primitive that has only extensions (its _name companion, no value) is dropped from
//     fhirgate's result, as fhirpath.js's resolved output drops it;
//   - the items of children() and descendants(), whose order the specification leaves
//     undefined (section 5.7), as sorted multisets;
//   - an evaluation error on both sides agrees, whatever the messages.
//
// Every disagreement fails the test unless its expression is in jsKnownDifferences, with
// the reason; an entry that no longer differs fails too, so the list stays true.

// jsDir is the Node harness, relative to this package.
const jsDir = "../bench/fhirpath"

// jsKnownDifferences are the expressions on which the engines differ by design, with the
// section of the specification that says fhirgate's answer is the right one.
var jsKnownDifferences = map[string]string{
	// fhirpath.js departs from the specification.
	"(1 | 2) ~ (2 | 1)":               "6.1.4 ~: for collections, comparison is not order dependent; fhirpath.js compares in order",
	"name.given.skip(-1)":             "5.3.6 skip(num): num <= 0 returns the input; fhirpath.js counts from the end",
	"name.first().toString()":         "5.5.8 toString: a HumanName does not convert, the result is empty; fhirpath.js gives '[object Object]'",
	"name.first().convertsToString()": "5.5.8 convertsToString: false for a type that does not convert; fhirpath.js says true",
	`'11/30/1972'.replaceMatches('\\b(?<month>\\d{1,2})/(?<day>\\d{1,2})/(?<year>\\d{2,4})\\b', '${day}-${month}-${year}')`: "5.6.11 replaceMatches: the specification's own example substitutes named groups; fhirpath.js does not",
	"@9999-12-31 + 1 day":                                      "2.1.x Date: years 1 to 9999, so the result is empty; fhirpath.js answers 10000-01-01",
	"@2019-02-03 + 1000000000000 years":                        "2.1.x Date range: empty; fhirpath.js answers NaN-NaN-NaN",
	"9223372036854775807 + 1":                                  "6.6 Math: an Integer result outside the range is empty; fhirpath.js answers a float",
	"item.unitPrice.value * item.quantity.value":               "6.6: an operand of more than one item is an error; fhirpath.js answers empty",
	"iif(1 | 2, 1, 2)":                                         "5.5.1 iif: the criterion must be a single boolean, more items are an error; fhirpath.js takes it as true",
	"code.coding.where(system = %loinc).code":                  "9 Environment variables: %loinc is the specification's (http://loinc.org); fhirpath.js does not define it",
	"-value.ofType(Quantity).value":                            "6.8 precedence: invocation binds tighter than unary minus, so this negates a decimal; fhirpath.js rejects a FHIR decimal there",
	"(3 'mg').unit":                                            "FHIR Quantity.unit of a System Quantity is the unit itself (mg); fhirpath.js keeps the quotes ('mg')",
	"quantity > 10 'TAB'":                                      "6.2 comparison: quantities of units that do not compare give empty; fhirpath.js raises an error",
	"doseQuantity = 5 'mL'":                                    "6.1.1 =: quantities in units that do not compare (mg, mL) give empty; fhirpath.js says false",
	"value.ofType(Quantity).toQuantity()":                      "5.5.9 toQuantity: a Quantity converts to itself whatever its system; fhirpath.js gives empty for a non-UCUM code",
	"value.ofType(Quantity).toQuantity().convertsToQuantity()": "5.5.9: as toQuantity(); fhirpath.js gives empty",
	"meta.lastUpdated.toDate()":                                "5.5.4 toDate: a DateTime converts to its date; fhirpath.js does not convert FHIR dateTimes and instants read from a resource",
	"period.start.toDate()":                                    "5.5.4 toDate of a FHIR dateTime, as above",
	"authoredOn.toDate()":                                      "5.5.4 toDate of a FHIR dateTime, as above",
	"effective.ofType(dateTime).toDate()":                      "5.5.4 toDate of a FHIR dateTime, as above",
	"'2014-01-25T10:00:00Z'.toDate()":                          "5.5.4 toDate: a string that converts to a DateTime converts to its date (fhirgate's spec row); fhirpath.js gives empty",
	"value.ofType(Quantity).value.toString()":                  "2.1.x Decimal is exact: 66.899999999999991 as written; fhirpath.js rounds through a float",
	"value.ofType(Quantity).value mod 2":                       "2.1.x Decimal is exact, as above",
	"(value | component.value).count()":                        "6.5 union removes items equal under =; 1e-245 g and 1e-22 g are not equal, fhirpath.js's floats make them so",
	"descendants().ofType(Reference).where(reference.startsWith('#')).resolve().id": "FHIR R4 References 2.3.0.2 (contained): a contained resource may refer to another contained resource by #id of the container; fhirpath.js resolves only from the container",
	"descendants().ofType(Extension).url":                                           "FHIR R4 2.1.28.0.1 Primitive types have id and extension, so descendants() includes a primitive's extensions (its _name companion); fhirpath.js does not descend into them",
	// Resource.id is of type id (FHIR R4 11.1 Resource: id | id), which specialises string;
	// fhirpath.js types it as System.String, from the R4 StructureDefinition's type code for
	// the value of id, and Extension.url likewise.
	"id is id":                             "Resource.id is FHIR id",
	"id.is(id)":                            "Resource.id is FHIR id",
	"id is string":                         "Resource.id is FHIR id, which specialises string",
	"(id as string).length()":              "Resource.id is FHIR id, which specialises string",
	"descendants().ofType(id).count()":     "Resource.id is FHIR id",
	"descendants().ofType(string).count()": "Resource.id is FHIR id, which specialises string",
	"descendants().ofType(uri).count()":    "Extension.url is FHIR uri (R4 Extension: url | uri)",
	"descendants().ofType(string).select(length()).aggregate($total + $this, 0)": "Resource.id is FHIR id, which specialises string",
	// fhirgate's chosen semantics where the specification leaves room (see the package doc).
	"$index":                      "$index outside an iteration is undefined by the specification; fhirgate reports an error, as for an undefined %variable (section 9), fhirpath.js answers empty",
	"$total":                      "$total outside aggregate(), as $index",
	"birthDate = '1974-12-25'":    "fhirgate reads a string compared with a date as a date (package doc), as FHIR's own invariants compare dates with string literals; fhirpath.js compares by type, false",
	"entry.resource.resourceType": "resourceType is the JSON format's marker, no element of any FHIR type, so typed navigation finds nothing; fhirpath.js reads the JSON key",
	"text.`div`.htmlChecks()":     "FHIR R4 txt-2 asks for non-whitespace content, but like the HL7 Java validator for R4 fhirgate does not require it (official examples have empty narratives: the validation must not reject them); fhirpath.js requires it",
}

// jsCase is one expression of the corpus and the resource types it is evaluated on (all the
// sample when types is empty). unordered compares the results as multisets.
type jsCase struct {
	expr      string
	types     []string
	unordered bool
}

// jsRequest is what compare.mjs reads.
type jsRequest struct {
	Resources []json.RawMessage `json:"resources"`
	Vars      map[string]any    `json:"vars"`
	Cases     []jsRequestCase   `json:"cases"`
	Bench     *jsBench          `json:"bench,omitempty"`
}

type jsRequestCase struct {
	Expr string `json:"expr"`
	On   []int  `json:"on"`
}

type jsBench struct {
	Warmup     int             `json:"warmup"`
	Iterations int             `json:"iterations"`
	Cases      []jsRequestCase `json:"cases"`
}

// jsAnswer is what compare.mjs prints.
type jsAnswer struct {
	Error   string         `json:"error"`
	Version string         `json:"version"`
	Results [][]jsResult   `json:"results"`
	Bench   []jsBenchTimed `json:"bench"`
}

type jsResult struct {
	Values []any    `json:"values"`
	Types  []string `json:"types"`
	Error  string   `json:"error"`
}

type jsBenchTimed struct {
	Expr      string  `json:"expr"`
	Evals     int     `json:"evals"`
	NsPerEval float64 `json:"nsPerEval"`
}

// jsVars are the caller variables both engines get (the specification's rows use %x).
var jsVars = map[string]string{"x": "ex"}

// jsResource is one resource of the sample: its JSON as fhirpath.js reads it, and decoded as
// fhirgate reads it.
type jsResource struct {
	typ  string
	raw  json.RawMessage
	data map[string]any
}

// TestFHIRPathJSComparison evaluates the corpus (jsCorpus) on a sample of the official
// examples and Synthea's resources with both engines, and fails on any disagreement that is
// not a known difference. It logs how many (expression, resource) pairs agree.
func TestFHIRPathJSComparison(t *testing.T) {
	node := fhirpathJSHarness(t)
	resources := jsSample(t)
	corpus := jsCorpus()
	req := jsRequest{Vars: map[string]any{}}
	for k, v := range jsVars {
		req.Vars[k] = v
	}
	for _, r := range resources {
		req.Resources = append(req.Resources, r.raw)
	}
	byType := map[string][]int{}
	var all []int
	for i, r := range resources {
		byType[r.typ] = append(byType[r.typ], i)
		all = append(all, i)
	}
	for _, c := range corpus {
		on := all
		if len(c.types) > 0 {
			on = nil
			for _, typ := range c.types {
				on = append(on, byType[typ]...)
			}
			if len(on) == 0 {
				t.Fatalf("%s: the sample holds no resource of %v", c.expr, c.types)
			}
		}
		req.Cases = append(req.Cases, jsRequestCase{Expr: c.expr, On: on})
	}
	answer := runFHIRPathJS(t, node, req)
	if len(answer.Results) != len(corpus) {
		t.Fatalf("fhirpath.js answered %d cases, want %d", len(answer.Results), len(corpus))
	}

	vars := map[string][]Value{}
	for k, v := range jsVars {
		vars[k] = []Value{{Data: v, Type: "string"}}
	}
	pairs, agree, nonEmpty := 0, 0, 0
	differing := map[string]int{}
	types := map[string]bool{}
	for ci, c := range corpus {
		// A syntax error is an error on every resource, as fhirpath.js reports it.
		expr, compileErr := Compile(c.expr)
		for k, ri := range req.Cases[ci].On {
			r := resources[ri]
			types[r.typ] = true
			goSide := "error"
			if compileErr == nil {
				got, err := expr.EvalWith(r.data, vars)
				goSide = canonGo(got, err, c.unordered)
			}
			jsSide := canonJS(answer.Results[ci][k], c.unordered)
			pairs++
			if goSide == jsSide {
				agree++
				if goSide != "" && goSide != "error" {
					nonEmpty++
				}
				continue
			}
			differing[c.expr]++
			if _, known := jsKnownDifferences[c.expr]; known {
				continue
			}
			if differing[c.expr] <= 3 {
				t.Errorf("%s on %s/%v:\n fhirgate     %s\n fhirpath.js  %s %s", c.expr, r.typ, r.data["id"], goSide, jsSide, answer.Results[ci][k].Error)
			}
		}
	}
	for expr, reason := range jsKnownDifferences {
		if differing[expr] == 0 {
			t.Errorf("known difference %q (%s) no longer differs: remove it from jsKnownDifferences", expr, reason)
		}
	}
	known := 0
	for expr := range differing {
		if _, ok := jsKnownDifferences[expr]; ok {
			known += differing[expr]
		}
	}
	t.Logf("fhirpath.js %s: %d expressions on %d resources of %d types: %d pairs, %d agree (%d of them non-empty), %d known differences (%d expressions), %d other differences",
		answer.Version, len(corpus), len(resources), len(types), pairs, agree, nonEmpty, known, len(jsKnownDifferences), pairs-agree-known)
	if len(corpus) < 300 || len(types) < 40 || nonEmpty < 1000 {
		t.Fatalf("the comparison checked too little: %d expressions, %d types, %d non-empty agreements", len(corpus), len(types), nonEmpty)
	}
}

// fhirpathJSHarness returns the node command. Without Node.js or the harness's packages the
// test skips on a bare clone (go test ./... needs neither), and fails where
// FHIRGATE_REQUIRE_FHIRPATHJS=1 says they were installed (.ci/run's main test step), so that a
// broken install cannot pass unnoticed.
func fhirpathJSHarness(t *testing.T) string {
	t.Helper()
	missing := t.Skip
	if os.Getenv("FHIRGATE_REQUIRE_FHIRPATHJS") == "1" {
		missing = t.Fatal
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("fhirpath.js comparison: node is not on PATH")
	}
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "fhirpath", "package.json")); err != nil {
		missing("fhirpath.js comparison: its packages are not installed; run `npm ci --prefix bench/fhirpath --ignore-scripts`")
	}
	return node
}

// runFHIRPathJS runs compare.mjs on req.
func runFHIRPathJS(t *testing.T, node string, req jsRequest) jsAnswer {
	t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "request.json")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "compare.mjs", path)
	cmd.Dir = jsDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	var answer jsAnswer
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	if err := dec.Decode(&answer); err != nil {
		t.Fatalf("compare.mjs: %v (%v); stderr: %s", err, runErr, stderr.String())
	}
	if answer.Error != "" || runErr != nil {
		t.Fatalf("compare.mjs: %s (%v)", answer.Error, runErr)
	}
	return answer
}

// jsSample returns the resources both engines are run on: the first three official examples
// of each resource type (more of the types the corpus has most expressions for:
// jsSampleCaps), the first three resources of each of Synthea's files, and specPatient (on
// which the specification's rows are written).
func jsSample(t testing.TB) []jsResource {
	t.Helper()
	var out []jsResource
	perType := map[string]int{}
	add := func(source string, data []byte) {
		var compact bytes.Buffer
		if err := json.Compact(&compact, data); err != nil {
			t.Fatalf("%s: %v", source, err)
		}
		dec := json.NewDecoder(bytes.NewReader(compact.Bytes()))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("%s: %v", source, err)
		}
		typ, _ := m["resourceType"].(string)
		out = append(out, jsResource{typ: typ, raw: compact.Bytes(), data: m})
		perType[typ]++
	}
	spec, err := json.Marshal(specPatient)
	if err != nil {
		t.Fatal(err)
	}
	add("specPatient", spec)
	for _, f := range datasets.Files(t, datasets.FHIRExamples, "*.json") {
		typ, _, _ := strings.Cut(f.Name, "-")
		if perType[typ] < max(3, jsSampleCaps[typ]) {
			add(f.Name, f.Data)
		}
	}
	for _, f := range datasets.Files(t, datasets.Synthea, "*.ndjson") {
		sc := bufio.NewScanner(bytes.NewReader(f.Data))
		sc.Buffer(nil, 64<<20)
		for n := 0; n < 3 && sc.Scan(); n++ {
			add(f.Name, sc.Bytes())
		}
		if err := sc.Err(); err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
	}
	return out
}

// jsSampleCaps are the numbers of official examples taken of the types the corpus has most
// expressions for.
var jsSampleCaps = map[string]int{"Observation": 25, "Patient": 10, "Condition": 6, "Claim": 6, "Questionnaire": 5, "QuestionnaireResponse": 5, "MedicationRequest": 8}

// canonGo renders fhirgate's result under the comparison's normalisation.
func canonGo(vs []Value, err error, unordered bool) string {
	if err != nil {
		return "error"
	}
	var items []string
	for _, v := range vs {
		if v.Data == nil {
			continue // a primitive with only extensions: fhirpath.js's output drops it
		}
		items = append(items, canonGoItem(v))
	}
	return joinItems(items, unordered)
}

func canonGoItem(v Value) string {
	switch d := v.Data.(type) {
	case bool:
		return "b:" + strconv.FormatBool(d)
	case json.Number:
		return "n:" + canonNumber(string(d))
	case string:
		switch v.Type {
		case "date", "dateTime", "time", "instant":
			return "t:" + canonMoment(d)
		}
		return "s:" + d
	case map[string]any:
		if !v.fhir {
			if q, ok := quantityOf(v); ok {
				return canonQuantity(q.n.r.FloatString(20), q.unit)
			}
		}
		return "o:" + canonJSON(d)
	}
	return "o:" + canonJSON(v.Data)
}

// jsQuantity is how fhirpath.js writes a System Quantity: 3.5 'mg' or 2 years.
var jsQuantity = regexp.MustCompile(`^(-?[0-9.eE+-]+) (?:'(.*)'|([a-z]+))$`)

// canonJS renders fhirpath.js's result under the comparison's normalisation.
func canonJS(r jsResult, unordered bool) string {
	if r.Error != "" {
		return "error"
	}
	var items []string
	for i, x := range r.Values {
		typ := ""
		if i < len(r.Types) {
			typ = r.Types[i]
		}
		items = append(items, canonJSItem(x, typ))
	}
	return joinItems(items, unordered)
}

func canonJSItem(x any, typ string) string {
	switch d := x.(type) {
	case bool:
		return "b:" + strconv.FormatBool(d)
	case json.Number:
		return "n:" + canonNumber(string(d))
	case string:
		switch typ {
		case "System.Date", "System.DateTime", "System.Time", "FHIR.date", "FHIR.dateTime", "FHIR.time", "FHIR.instant":
			return "t:" + canonMoment(d)
		case "System.Quantity":
			if m := jsQuantity.FindStringSubmatch(d); m != nil {
				unit := m[2]
				if m[3] != "" {
					unit = calendarUnits[m[3]]
				}
				if unit == "" {
					unit = "1"
				}
				return canonQuantity(m[1], unit)
			}
		}
		return "s:" + d
	}
	return "o:" + canonJSON(x)
}

// canonQuantity prints a System Quantity as its value in the base unit of its dimension when
// its unit converts (ucum.go), else as value and unit.
func canonQuantity(value, unit string) string {
	if u, ok := ucumOf(unit); ok {
		if r, ok := new(big.Rat).SetString(value); ok {
			f, _ := r.Mul(r, u.factor).Float64()
			return "q:" + strconv.FormatFloat(f, 'g', -1, 64) + " [" + u.dim + "]"
		}
	}
	return "q:" + canonNumber(value) + " " + unit
}

// canonNumber prints a number by its float64 value.
func canonNumber(s string) string {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		if r, ok := new(big.Rat).SetString(s); ok {
			f, _ = r.Float64()
		} else {
			return s
		}
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// canonMoment writes a dateTime with an offset as the same instant in UTC (fhirpath.js gives
// the results of arithmetic in UTC, fhirgate in the operand's offset), and leaves dates,
// times and dateTimes without an offset as they are.
func canonMoment(s string) string {
	for _, layout := range []string{"2006-01-02T15:04:05.999999999Z07:00", "2006-01-02T15:04Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC().Format(layout)
		}
	}
	return s
}

// canonJSON is x as JSON with map keys sorted and numbers by their float64 value.
func canonJSON(x any) string {
	b, _ := json.Marshal(numbersAsFloats(x))
	return string(b)
}

func numbersAsFloats(x any) any {
	switch d := x.(type) {
	case json.Number:
		f, _ := strconv.ParseFloat(string(d), 64)
		return f
	case map[string]any:
		m := make(map[string]any, len(d))
		for k, v := range d {
			m[k] = numbersAsFloats(v)
		}
		return m
	case []any:
		s := make([]any, len(d))
		for i, v := range d {
			s[i] = numbersAsFloats(v)
		}
		return s
	}
	return x
}

func joinItems(items []string, unordered bool) string {
	if unordered {
		sort.Strings(items)
	}
	return strings.Join(items, " | ")
}

// jsBenchCases are the representative expressions both engines are timed on: navigation,
// filtering, choice types, dates, quantities, strings, aggregates and tree walks, each on the
// resources of its type in the sample.
var jsBenchCases = []jsCase{
	{expr: "Patient.name.given", types: []string{"Patient"}},
	{expr: "name.where(use = 'official').family.first()", types: []string{"Patient"}},
	{expr: "birthDate < @2000-01-01 and gender = 'female'", types: []string{"Patient"}},
	{expr: "telecom.where(system = 'phone').value.exists()", types: []string{"Patient"}},
	{expr: "Observation.value.ofType(Quantity).value > 10", types: []string{"Observation"}},
	{expr: "code.coding.where(system = 'http://loinc.org').code", types: []string{"Observation"}},
	{expr: "effective.ofType(dateTime) + 1 day > @2010-01-01", types: []string{"Observation"}},
	{expr: "component.value.ofType(Quantity).where(code = 'mm[Hg]').value", types: []string{"Observation"}},
	{expr: "period.start <= period.end", types: []string{"Encounter"}},
	{expr: "iif(status = 'finished', 'done', 'open')", types: []string{"Encounter"}},
	{expr: "item.net.value.aggregate($this + $total, 0)", types: []string{"Claim"}},
	{expr: "descendants().ofType(Reference).count()", types: []string{"Patient", "Observation", "Encounter"}},
	{expr: "id.length() + id.upper().indexOf('A')", types: []string{"Patient", "Observation", "Encounter"}},
	{expr: "meta.exists() implies meta.lastUpdated.exists()", types: []string{"Patient", "Observation", "Encounter"}},
}

// TestFHIRPathJSSpeed times each of jsBenchCases on both engines, in one run, and logs the
// time per evaluation and the ratio (the goal: fhirgate at least 10 times faster).
// fhirgate's side is what BenchmarkFHIRPath measures: compiled once, evaluated in a loop.
func TestFHIRPathJSSpeed(t *testing.T) {
	node := fhirpathJSHarness(t)
	resources := jsSample(t)
	const warmup, iterations = 50, 400
	req := jsRequest{Bench: &jsBench{Warmup: warmup, Iterations: iterations}}
	for _, r := range resources {
		req.Resources = append(req.Resources, r.raw)
	}
	for _, c := range jsBenchCases {
		req.Bench.Cases = append(req.Bench.Cases, jsRequestCase{Expr: c.expr, On: jsOn(t, resources, c)})
	}
	answer := runFHIRPathJS(t, node, req)
	if len(answer.Bench) != len(jsBenchCases) {
		t.Fatalf("fhirpath.js timed %d cases, want %d", len(answer.Bench), len(jsBenchCases))
	}
	var table strings.Builder
	fmt.Fprintf(&table, "%-62s %7s %12s %14s %8s\n", "expression", "evals", "fhirgate ns", "fhirpath.js ns", "speedup")
	var goTotal, jsTotal float64
	for i, c := range jsBenchCases {
		on := req.Bench.Cases[i].On
		goNs := timeFhirgate(t, c.expr, resources, on, warmup, iterations)
		jsNs := answer.Bench[i].NsPerEval
		goTotal += goNs
		jsTotal += jsNs
		fmt.Fprintf(&table, "%-62s %7d %12.0f %14.0f %7.1fx\n", c.expr, answer.Bench[i].Evals, goNs, jsNs, jsNs/goNs)
	}
	fmt.Fprintf(&table, "%-62s %7s %12.0f %14.0f %7.1fx\n", "all (sum of per-evaluation means)", "", goTotal, jsTotal, jsTotal/goTotal)
	t.Logf("fhirgate vs fhirpath.js %s (compiled once, per evaluation, mean):\n%s", answer.Version, table.String())
}

// jsOn returns the indexes of the sample's resources of c's types.
func jsOn(t testing.TB, resources []jsResource, c jsCase) []int {
	t.Helper()
	want := map[string]bool{}
	for _, typ := range c.types {
		want[typ] = true
	}
	var on []int
	for i, r := range resources {
		if want[r.typ] {
			on = append(on, i)
		}
	}
	if len(on) == 0 {
		t.Fatalf("%s: no resource of %v in the sample", c.expr, c.types)
	}
	return on
}

// timeFhirgate returns fhirgate's mean time per evaluation of expr on the resources on.
func timeFhirgate(t *testing.T, expr string, resources []jsResource, on []int, warmup, iterations int) float64 {
	t.Helper()
	e, err := Compile(expr)
	if err != nil {
		t.Fatal(err)
	}
	run := func(n int) {
		for range n {
			for _, i := range on {
				if _, err := e.Eval(resources[i].data); err != nil {
					t.Fatalf("%s: %v", expr, err)
				}
			}
		}
	}
	run(warmup)
	start := time.Now()
	run(iterations)
	return float64(time.Since(start).Nanoseconds()) / float64(iterations*len(on))
}

// BenchmarkFHIRPath times fhirgate on each of jsBenchCases, one op per evaluation, cycling
// through the same resources as TestFHIRPathJSSpeed.
func BenchmarkFHIRPath(b *testing.B) {
	resources := jsSample(b)
	for i, c := range jsBenchCases {
		on := jsOn(b, resources, c)
		e, err := Compile(c.expr)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(strconv.Itoa(i), func(b *testing.B) {
			b.ReportAllocs()
			for n := range b.N {
				if _, err := e.Eval(resources[on[n%len(on)]].data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
