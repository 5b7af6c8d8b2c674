package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/internal/datasets"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/validate"
)

// The comparison with Medplum's FHIR GraphQL engine (npm @medplum/fhir-router, pinned in
// bench/medplum/package-lock.json) runs the same queries on the same data on both engines, in
// one run: fhirgate in process on the embedded engine, Medplum in a Node process over its
// in-memory repository (bench/medplum/compare.mjs). Each side is timed from the request to the
// answer, in process, without network. It needs Node.js and the packages of bench/medplum
// (`npm ci --prefix bench/medplum`, which .ci/run does); without them it skips.

// medplumDir is the Node harness, relative to this package.
const medplumDir = "../bench/medplum"

// comparison is one query both engines answer.
type comparison struct {
	name, query string
	// sameSet is set when both engines must return the same resources; otherwise (a page
	// cut by _count, which each engine fills in its own order) the same number of them.
	sameSet bool
}

// comparisonRuns are the untimed and timed runs of each query on each side.
const (
	comparisonWarmup = 5
	comparisonRuns   = 21
)

// TestMedplumComparison loads Synthea's 10 patients and the official examples into both
// engines, checks that both answer each query alike, and prints each side's median time and
// their ratio (fhirgate / Medplum), with fhirgate's storage round trips per query.
func TestMedplumComparison(t *testing.T) {
	node := medplumHarness(t)
	resources := comparisonResources(t)

	// Validation is warn: both engines must hold the same resources, and 9 official examples
	// break a rule of the specification that strict validation refuses.
	e := newEnv(t, func(c *api.Config) { c.Validation = validate.Warn })
	seedResources(t, e, resources)

	dir := t.TempDir()
	var ndjson bytes.Buffer
	for _, r := range resources {
		ndjson.Write(r.json)
		ndjson.WriteByte('\n')
	}
	if err := os.WriteFile(filepath.Join(dir, "resources.ndjson"), ndjson.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	queries := comparisonQueries(resources)
	medplum := runMedplum(t, node, dir, queries)
	if medplum.Loaded != len(resources) {
		t.Fatalf("Medplum loaded %d resources, want %d", medplum.Loaded, len(resources))
	}

	var table strings.Builder
	fmt.Fprintf(&table, "%d resources; median of %d runs after %d warm-up runs\n", len(resources), comparisonRuns, comparisonWarmup)
	fmt.Fprintf(&table, "%-34s %12s %12s %8s %12s\n", "query", "fhirgate ms", "Medplum ms", "ratio", "roundtrips")
	for i, q := range queries {
		mp := medplum.Results[i]
		if mp.Name != q.name {
			t.Fatalf("Medplum answered %q for query %q", mp.Name, q.name)
		}
		samples, body, errPaths, trips := timeFhirgate(t, e, q.query)
		checkSameAnswer(t, q, body, mp.Data)
		checkSameErrors(t, q, errPaths, mp.ErrorPaths)
		fg, mpMs := median(samples), median(mp.SamplesMs)
		fmt.Fprintf(&table, "%-34s %12.3f %12.3f %7.2fx %12.1f\n", q.name, fg, mpMs, fg/mpMs, trips)
	}
	t.Logf("fhirgate vs Medplum (@medplum/fhir-router 5.2.13, MemoryRepository):\n%s", table.String())
}

// medplumHarness returns the node command. Without Node.js or the harness's packages the test
// skips on a bare clone (go test ./... needs neither), and fails where
// FHIRGATE_REQUIRE_MEDPLUM=1 says they were installed (.ci/run's main test step), so that a
// broken install cannot pass unnoticed.
func medplumHarness(t *testing.T) string {
	t.Helper()
	missing := t.Skip
	if os.Getenv("FHIRGATE_REQUIRE_MEDPLUM") == "1" {
		missing = t.Fatal
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("Medplum comparison: node is not on PATH")
	}
	if _, err := os.Stat(filepath.Join(medplumDir, "node_modules", "@medplum", "fhir-router", "package.json")); err != nil {
		missing("Medplum comparison: its packages are not installed; run `npm ci --prefix bench/medplum --ignore-scripts`")
	}
	return node
}

// comparisonResource is one resource of the comparison's data, as both engines load it.
type comparisonResource struct {
	typ, id string
	json    []byte
}

// comparisonResources returns Synthea's resources and the official examples, each once.
func comparisonResources(t *testing.T) []comparisonResource {
	t.Helper()
	var out []comparisonResource
	seen := map[string]bool{}
	add := func(source string, data []byte) {
		var head struct{ ResourceType, ID string }
		if err := json.Unmarshal(data, &head); err != nil || head.ResourceType == "" || head.ID == "" {
			t.Fatalf("%s: no resourceType and id (%v)", source, err)
		}
		if key := head.ResourceType + "/" + head.ID; !seen[key] {
			seen[key] = true
			out = append(out, comparisonResource{head.ResourceType, head.ID, bytes.Clone(data)})
		}
	}
	for _, f := range datasets.Files(t, datasets.Synthea, "*.ndjson") {
		sc := bufio.NewScanner(bytes.NewReader(f.Data))
		sc.Buffer(nil, 64<<20) // DocumentReference lines carry whole notes in base64
		for line := 1; sc.Scan(); line++ {
			if len(bytes.TrimSpace(sc.Bytes())) > 0 {
				add(fmt.Sprintf("%s:%d", f.Name, line), sc.Bytes())
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
	}
	for _, f := range datasets.Files(t, datasets.FHIRExamples, "*.json") {
		var compact bytes.Buffer
		if err := json.Compact(&compact, f.Data); err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		add(f.Name, compact.Bytes())
	}
	// 7,160 Synthea resources and 699 examples, per the SOURCE.md files.
	if len(out) != 7160+699 {
		t.Fatalf("read %d resources, want %d", len(out), 7160+699)
	}
	return out
}

// seedResources commits the resources to e's store, in batches.
func seedResources(t *testing.T, e *env, resources []comparisonResource) {
	t.Helper()
	const batch = 500
	for start := 0; start < len(resources); start += batch {
		var writes []storage.Write
		for _, r := range resources[start:min(start+batch, len(resources))] {
			res, err := model.Unmarshal(r.json)
			if err != nil {
				t.Fatalf("%s/%s: %v", r.typ, r.id, err)
			}
			writes = append(writes, storage.Write{Op: storage.OpPut, Type: r.typ, ID: r.id, Resource: res})
		}
		if _, err := e.store.Commit(context.Background(), writes); err != nil {
			t.Fatal(err)
		}
	}
}

// comparisonQueries are the queries of the comparison, over the loaded data.
func comparisonQueries(resources []comparisonResource) []comparison {
	var patient string
	for _, r := range resources {
		if r.typ == "Patient" {
			patient = r.id // a Synthea patient: they come first
			break
		}
	}
	return []comparison{
		{"read Patient by id", `{ Patient(id: "` + patient + `") { id gender birthDate name { family given } } }`, true},
		{"50 Observations + subject", `{ ObservationList(_count: 50) { id status subject { resource { ... on Patient { id birthDate } } } } }`, false},
		// Medplum pages reverse references by 20 without _count; fhirgate returns them all.
		{"100 Patients + their Conditions", `{ PatientList(_count: 100) { id ConditionList(_reference: subject, _count: 200) { id code { text } } } }`, true},
		{"token search Observation code", `{ ObservationList(code: "http://loinc.org|85354-9") { id status } }`, true},
		{"EncounterList(_count: 200)", `{ EncounterList(_count: 200) { id status class { code } } }`, false},
	}
}

// medplumAnswer is what compare.mjs prints.
type medplumAnswer struct {
	Error   string
	Loaded  int
	Results []struct {
		Name       string
		SamplesMs  []float64
		Data       json.RawMessage
		ErrorPaths []string
	}
}

func runMedplum(t *testing.T, node, dir string, queries []comparison) medplumAnswer {
	t.Helper()
	spec := map[string]any{"warmup": comparisonWarmup, "runs": comparisonRuns}
	var qs []map[string]string
	for _, q := range queries {
		qs = append(qs, map[string]string{"name": q.name, "query": q.query})
	}
	spec["queries"] = qs
	b, _ := json.Marshal(spec)
	if err := os.WriteFile(filepath.Join(dir, "queries.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs(filepath.Join(medplumDir, "compare.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	args := []string{script, filepath.Join(dir, "resources.ndjson"), filepath.Join(dir, "queries.json")}
	if v, err := exec.Command(node, "--version").Output(); err == nil && nodeMajor(string(v)) < 22 {
		// Node 20 has the global WebSocket, which @medplum/core needs, behind this flag.
		args = append([]string{"--experimental-websocket"}, args...)
	}
	cmd := exec.CommandContext(ctx, node, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var ans medplumAnswer
	if jerr := json.Unmarshal(out, &ans); jerr != nil || err != nil || ans.Error != "" {
		t.Fatalf("compare.mjs: %v %v %s\nstderr: %s", err, jerr, truncate(string(out), 2000), truncate(stderr.String(), 2000))
	}
	if len(ans.Results) != len(queries) {
		t.Fatalf("compare.mjs answered %d queries of %d", len(ans.Results), len(queries))
	}
	return ans
}

// nodeMajor returns the major version in node --version's answer ("v20.20.2"), 0 if unreadable.
func nodeMajor(version string) int {
	major, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(version), "v"), ".")
	n, _ := strconv.Atoi(major)
	return n
}

// timeFhirgate runs query on e's handler in process, as compare.mjs runs it on Medplum's router,
// and returns the timed runs in milliseconds, the last answer's data and the storage round
// trips per run. Field errors (a reference to nothing) are part of an answer: their paths are
// returned, as compare.mjs returns Medplum's.
func timeFhirgate(t *testing.T, e *env, query string) (samples []float64, data json.RawMessage, errPaths []string, trips float64) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query})
	run := func() []byte {
		req := httptest.NewRequest(http.MethodPost, "/$graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, req)
		var ans struct {
			Data   json.RawMessage
			Errors []gqlError
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil || rec.Code != http.StatusOK || len(ans.Data) == 0 || string(ans.Data) == "null" {
			t.Fatalf("status %d: %s", rec.Code, truncate(rec.Body.String(), 500))
		}
		errPaths = errPaths[:0]
		for _, e := range ans.Errors {
			var p []string
			for _, x := range e.Path {
				p = append(p, fmt.Sprint(x))
			}
			errPaths = append(errPaths, strings.Join(p, "."))
		}
		return ans.Data
	}
	for range comparisonWarmup {
		data = run()
	}
	samples = make([]float64, 0, comparisonRuns)
	before := commands.Load()
	for range comparisonRuns {
		start := time.Now()
		data = run()
		samples = append(samples, float64(time.Since(start).Nanoseconds())/1e6)
	}
	return samples, data, errPaths, float64(commands.Load()-before) / comparisonRuns
}

// checkSameAnswer checks that both engines returned the same resources (by id), or as many of
// them where each fills a page in its own order, and that there were some.
func checkSameAnswer(t *testing.T, q comparison, fhirgate, medplum json.RawMessage) {
	t.Helper()
	fg, mp := answerIDs(t, fhirgate), answerIDs(t, medplum)
	switch {
	case len(fg) == 0:
		t.Errorf("%s: fhirgate returned no resources: %s", q.name, truncate(string(fhirgate), 300))
	case len(fg) != len(mp):
		t.Errorf("%s: fhirgate returned %d ids, Medplum %d", q.name, len(fg), len(mp))
	case q.sameSet && !slices.Equal(fg, mp):
		t.Errorf("%s: the engines returned different resources:\nfhirgate %v\nMedplum  %v", q.name, fg, mp)
	}
}

// checkSameErrors checks that both engines reported field errors (references to nothing) at
// the same paths, or as many of them where each fills a page in its own order.
func checkSameErrors(t *testing.T, q comparison, fhirgate, medplum []string) {
	t.Helper()
	slices.Sort(fhirgate)
	slices.Sort(medplum)
	if len(fhirgate) != len(medplum) || q.sameSet && !slices.Equal(fhirgate, medplum) {
		t.Errorf("%s: field errors differ:\nfhirgate %v\nMedplum  %v", q.name, fhirgate, medplum)
	}
}

// answerIDs returns every "id" in a GraphQL answer, sorted.
func answerIDs(t *testing.T, data json.RawMessage) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("answer: %v", err)
	}
	var ids []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && k == "id" {
					ids = append(ids, s)
				} else {
					walk(e)
				}
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	sort.Strings(ids)
	return ids
}

// median returns the median of samples.
func median(samples []float64) float64 {
	s := slices.Clone(samples)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
