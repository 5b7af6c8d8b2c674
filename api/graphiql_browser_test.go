package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/graphiql"
)

// browserDir holds the pinned browser driver (npm puppeteer-core) and its script.
var browserDir = filepath.Join("..", "bench", "browser")

// chromium finds Debian's chromium (apt-get install chromium), or FHIRGATE_CHROMIUM.
func chromium() string {
	if p := os.Getenv("FHIRGATE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// ideReport is what bench/browser/ide.mjs saw.
type ideReport struct {
	Failure     string   `json:"failure"`
	Steps       []string `json:"steps"`
	BeforeToken struct {
		GraphQLRequests int    `json:"graphqlRequests"`
		Status          string `json:"status"`
	} `json:"beforeToken"`
	AnalystSchema struct {
		Status         string      `json:"status"`
		Introspections []tokenCall `json:"introspections"`
	} `json:"analystSchema"`
	WelcomeQuery string `json:"welcomeQuery"`
	Table        struct {
		Columns []string    `json:"columns"`
		Rows    [][]*string `json:"rows"`
	} `json:"table"`
	Stats       string `json:"stats"`
	ErrorsShown bool   `json:"errorsShown"`
	CSV         *struct {
		Name string `json:"name"`
		Text string `json:"text"`
	} `json:"csv"`
	ErrorRun struct {
		Errors     []string `json:"errors"`
		ErrorCount string   `json:"errorCount"`
	} `json:"errorRun"`
	Storage struct {
		Local   map[string]string `json:"local"`
		Session map[string]string `json:"session"`
	} `json:"storage"`
	LocalWrites      []string    `json:"localWrites"`
	HeadersRun       bool        `json:"headersRun"`
	AdminSchema      []tokenCall `json:"adminSchema"`
	VariableMarkers  int         `json:"variableMarkers"`
	VariablesText    string      `json:"variablesText"`
	MutationRequest  string      `json:"mutationRequest"`
	MutationResponse string      `json:"mutationResponse"`
	AfterReload      []struct {
		tokenCall
		Introspection bool `json:"introspection"`
	} `json:"afterReload"`
	Examples map[string]struct {
		Errors  []string `json:"errors"`
		Rows    int      `json:"rows"`
		Columns []string `json:"columns"`
	} `json:"examples"`
	Refocused  []string `json:"refocused"`
	Requests   []string `json:"requests"`
	External   []string `json:"external"`
	PageErrors []string `json:"pageErrors"`
	GraphQL    []struct {
		Status        int    `json:"status"`
		Introspection bool   `json:"introspection"`
		Authorization string `json:"authorization"`
	} `json:"graphql"`
}

type tokenCall struct {
	Status int  `json:"status"`
	Token  bool `json:"token"`
}

// TestGraphiQLInBrowser drives the GraphiQL page in headless Chromium (Debian's package) with
// puppeteer-core (pinned in bench/browser), as an analyst: the page loads with no request
// outside the server and none to GraphQL before a token; the token loads the schema with it
// and a new token loads it again; the welcome query runs for an analyst and its rows show in
// the table, with their count, size and time; the CSV download is the table; errors show
// apart from the data; no token is kept in localStorage, even one typed into the Headers
// editor; a resource in the Variables editor is no type error and its decimal is stored as
// typed; every saved example runs. It skips without Chromium or the packages, and fails where
// FHIRGATE_REQUIRE_BROWSER=1 says they were installed (apt-get install chromium; npm ci
// --prefix bench/browser --ignore-scripts).
func TestGraphiQLInBrowser(t *testing.T) {
	missing := t.Skip
	if os.Getenv("FHIRGATE_REQUIRE_BROWSER") == "1" {
		missing = t.Fatal
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("GraphiQL in a browser: node is not on PATH")
	}
	browser := chromium()
	if browser == "" {
		missing("GraphiQL in a browser: no chromium (apt-get install chromium, or set FHIRGATE_CHROMIUM)")
	}
	if _, err := os.Stat(filepath.Join(browserDir, "node_modules", "puppeteer-core", "package.json")); err != nil {
		missing("GraphiQL in a browser: run `npm ci --prefix bench/browser --ignore-scripts --no-audit --no-fund`")
	}

	a := newAuthEnv(t, authz.VerifierConfig{})
	var seed []string
	for i := range 3 {
		seed = append(seed, fmt.Sprintf(`{"resourceType":"Patient","id":"ide%d","gender":%q,"name":[{"family":"Secret%d"}],"birthDate":"1970-01-01","address":[{"city":"Hidden","state":"MA","country":"US"}]}`, i, []string{"female", "male", "female"}[i], i),
			fmt.Sprintf(`{"resourceType":"Observation","id":"idew%d","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"29463-7"}]},"effectiveDateTime":"2024-0%d-01","valueQuantity":{"value":7%d.50,"unit":"kg","system":"http://unitsofmeasure.org","code":"kg"},"subject":{"reference":"Patient/ide%d"}}`, i, i+1, i, i))
	}
	a.put(seed...)
	tokens := map[string]string{"analyst": a.token(t, "analyst", ""), "admin": a.token(t, "admin", "")}
	tokenJSON, _ := json.Marshal(tokens)

	downloads := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	script, _ := filepath.Abs(filepath.Join(browserDir, "ide.mjs"))
	cmd := exec.CommandContext(ctx, node, script, a.srv.URL, browser, downloads)
	cmd.Stdin = bytes.NewReader(tokenJSON)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var r ideReport
	if jerr := json.Unmarshal(out, &r); err != nil || jerr != nil {
		t.Fatalf("ide.mjs: %v %v\nstdout: %s\nstderr: %s", err, jerr, truncate(string(out), 3000), truncate(stderr.String(), 3000))
	}
	if dir := os.Getenv("FHIRGATE_BROWSER_REPORT"); dir != "" { // for a look at what the page did
		os.WriteFile(filepath.Join(dir, "report.json"), out, 0o644)
		for _, name := range []string{"table.png", "errors.png", "ide.png", "failure.png"} {
			if png, err := os.ReadFile(filepath.Join(downloads, name)); err == nil {
				os.WriteFile(filepath.Join(dir, name), png, 0o644)
			}
		}
	}
	if r.Failure != "" {
		t.Fatalf("the page could not be driven after steps %v: %s", r.Steps, r.Failure)
	}

	// No request left the server; none reached GraphQL before a token.
	if len(r.Requests) < 5 || len(r.External) > 0 {
		t.Errorf("%d requests, outside the server: %v", len(r.Requests), r.External)
	}
	if r.BeforeToken.GraphQLRequests != 0 || !strings.Contains(r.BeforeToken.Status, "Enter a token") {
		t.Errorf("before a token: %d GraphQL requests, status %q", r.BeforeToken.GraphQLRequests, r.BeforeToken.Status)
	}
	for i, g := range r.GraphQL {
		if g.Status == 401 || g.Authorization == "" {
			t.Errorf("GraphQL request %d: status %d, authorization %q", i, g.Status, g.Authorization)
		}
	}
	if fmt.Sprint(r.AnalystSchema.Introspections) != "[{200 true}]" || !strings.Contains(r.AnalystSchema.Status, "Schema loaded") {
		t.Errorf("the analyst's schema: %v %q", r.AnalystSchema.Introspections, r.AnalystSchema.Status)
	}
	if fmt.Sprint(r.AdminSchema) != "[{200 true}]" {
		t.Errorf("the schema after a new token: %v", r.AdminSchema)
	}
	if len(r.AfterReload) == 0 || !r.AfterReload[0].Introspection || !r.AfterReload[0].Token || r.AfterReload[0].Status != 200 {
		t.Errorf("after a reload: %+v", r.AfterReload)
	}

	// The welcome query is the analyst's to run, and the table shows its rows.
	if !strings.Contains(r.WelcomeQuery, "PatientList") {
		t.Errorf("welcome query: %q", r.WelcomeQuery)
	}
	if got := strings.Join(r.Table.Columns, ","); got != "id,gender,address" {
		t.Errorf("table columns %q", got)
	}
	var rows []string
	for _, row := range r.Table.Rows {
		var cells []string
		for _, c := range row {
			if c == nil {
				cells = append(cells, "null")
			} else {
				cells = append(cells, *c)
			}
		}
		rows = append(rows, strings.Join(cells, "|"))
	}
	wantRows := `ide0|female|[{"state":"MA","country":"US"}] ide1|male|[{"state":"MA","country":"US"}] ide2|female|[{"state":"MA","country":"US"}]`
	if strings.Join(rows, " ") != wantRows {
		t.Errorf("table rows\n got %s\nwant %s", strings.Join(rows, " "), wantRows)
	}
	if !strings.HasPrefix(r.Stats, "3 rows · ") || !strings.HasSuffix(r.Stats, " ms") || r.ErrorsShown {
		t.Errorf("stats %q, errors shown %v", r.Stats, r.ErrorsShown)
	}
	wantCSV := "id,gender,address\r\nide0,female,\"[{\"\"state\"\":\"\"MA\"\",\"\"country\"\":\"\"US\"\"}]\"\r\n" +
		"ide1,male,\"[{\"\"state\"\":\"\"MA\"\",\"\"country\"\":\"\"US\"\"}]\"\r\n" +
		"ide2,female,\"[{\"\"state\"\":\"\"MA\"\",\"\"country\"\":\"\"US\"\"}]\"\r\n"
	if r.CSV == nil || r.CSV.Name != "PatientList.csv" || r.CSV.Text != wantCSV {
		t.Errorf("CSV %+v\nwant %q", r.CSV, wantCSV)
	}
	if len(r.ErrorRun.Errors) != 1 || !strings.Contains(r.ErrorRun.Errors[0], `Cannot query field "nope"`) || r.ErrorRun.ErrorCount != "1 error" {
		t.Errorf("errors apart: %+v", r.ErrorRun)
	}

	// No token at rest, not even one typed into the Headers editor (and sent); the session
	// holds the one in use.
	if !r.HeadersRun {
		t.Errorf("the Headers editor's Authorization was not sent")
	}
	for k, v := range r.Storage.Local {
		for role, tok := range tokens {
			if strings.Contains(v, tok) || strings.Contains(v, tok[:40]) {
				t.Errorf("localStorage %s holds the %s token", k, role)
			}
		}
	}
	for _, w := range r.LocalWrites { // every write over the session, reloads included
		for role, tok := range tokens {
			if strings.Contains(w, tok) || strings.Contains(w, tok[:40]) {
				t.Errorf("a localStorage write held the %s token: %s", role, truncate(w, 200))
			}
		}
	}
	if len(r.LocalWrites) == 0 || len(r.Storage.Local) == 0 || r.Storage.Session["fhirgate:token"] != tokens["analyst"] {
		t.Errorf("storage: %d localStorage writes, local %d keys, session %v", len(r.LocalWrites), len(r.Storage.Local), r.Storage.Session)
	}

	// A resource in the Variables editor: no marker, and 1.50 sent and stored as typed.
	if r.VariableMarkers != 0 {
		t.Errorf("%d markers on the variables %q", r.VariableMarkers, r.VariablesText)
	}
	if !strings.Contains(r.MutationRequest, `"value": 1.50`) && !strings.Contains(r.MutationRequest, `"value":1.50`) {
		t.Errorf("the mutation was sent as %s", r.MutationRequest)
	}
	if rec, err := a.store.Read(t.Context(), "Observation", "ide1"); err != nil || !bytes.Contains(rec.JSON, []byte(`"value":1.50`)) {
		t.Errorf("stored: %v (%v)", rec, err)
	}
	if !strings.Contains(r.MutationResponse, "1.50") {
		t.Errorf("the response shows %q", r.MutationResponse)
	}

	// Every example opens and runs, and the IDE shows what the server answers the analyst:
	// its errors apart, or its rows.
	examples := graphiql.Examples()
	if len(r.Examples) != len(examples) {
		t.Errorf("%d examples run of %d", len(r.Examples), len(examples))
	}
	for _, ex := range examples {
		shown, ok := r.Examples[ex.ID]
		if !ok {
			t.Errorf("example %s was not run", ex.ID)
			continue
		}
		var vars map[string]any
		if ex.Variables != "" {
			if err := json.Unmarshal([]byte(ex.Variables), &vars); err != nil {
				t.Fatalf("example %s: variables: %v", ex.ID, err)
			}
		}
		answer := a.postAsVars(tokens["analyst"], "", ex.Query, vars)
		if len(shown.Errors) != len(answer.Errors) {
			t.Errorf("example %s: the IDE shows errors %v, the server answers %v", ex.ID, shown.Errors, answer.Errors)
			continue
		}
		for i, e := range answer.Errors {
			if !strings.Contains(shown.Errors[i], e.Message) {
				t.Errorf("example %s: the IDE shows %q for %q", ex.ID, shown.Errors[i], e.Message)
			}
		}
		if len(answer.Errors) == 0 && (shown.Rows <= 0 || len(shown.Columns) == 0) {
			t.Errorf("example %s: %d rows, columns %v", ex.ID, shown.Rows, shown.Columns)
		}
	}
	if len(r.PageErrors) > 0 {
		t.Errorf("page errors: %v", r.PageErrors)
	}
	if len(r.Refocused) > 0 {
		t.Logf("editors clicked again for the focus: %q", r.Refocused)
	}
	t.Logf("steps %v; %d requests, %d GraphQL; %d localStorage writes; %d examples", r.Steps, len(r.Requests), len(r.GraphQL), len(r.LocalWrites), len(r.Examples))
}
