package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/enrich"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/storage/embedded"
	"github.com/fhirgate/fhirgate/validate"
)

// TestDemoNotesEnriched loads the demo with and without automatic NLP into datastores that
// validate strictly, as the server does: with it, every note carries its enrichment and the
// generated resources pass validation; the time each load takes is reported.
func TestDemoNotesEnriched(t *testing.T) {
	ctx := context.Background()
	g, err := validate.NewGuard(validate.Strict)
	if err != nil {
		t.Fatal(err)
	}
	client, err := storage.Open(ctx, storage.Config{Engine: embedded.New(t.TempDir()), Indexer: search.Indexer{}, Validator: g})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(ctx)
	took := map[bool]time.Duration{}
	for _, auto := range []bool{false, true} {
		name := "plain"
		if auto {
			name = "nlp"
		}
		store, err := client.Datastore(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		n, err := loadDemo(ctx, store, api.NLPConfig{Auto: auto}, nil)
		if err != nil {
			t.Fatalf("load with nlp=%v: %v", auto, err)
		}
		took[auto] = time.Since(start)
		generated := map[string]int64{}
		for _, typ := range []string{"Condition", "MedicationStatement", "Observation", "Provenance"} {
			recs, err := store.Search(ctx, typ, storage.Query{Limit: 100_000})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if strings.Contains(string(r.JSON), `"code":"`+enrich.TagGenerated+`"`) {
					generated[typ]++
				}
			}
		}
		docRecs, err := store.Search(ctx, "DocumentReference", storage.Query{Limit: 100_000})
		if err != nil {
			t.Fatal(err)
		}
		enriched := 0
		for _, r := range docRecs {
			var d struct{ Extension []struct{ URL string } }
			json.Unmarshal(r.JSON, &d)
			for _, x := range d.Extension {
				if x.URL == enrich.ExtAnalysis {
					enriched++
				}
			}
		}
		t.Logf("nlp=%v: %d resources and %d notes in %v; %d notes enriched, generated %v", auto, n, len(docRecs), took[auto].Round(time.Millisecond), enriched, generated)
		if !auto {
			if enriched != 0 || generated["Provenance"] != 0 {
				t.Errorf("without nlp: %d enriched notes", enriched)
			}
			continue
		}
		if len(docRecs) == 0 || enriched != len(docRecs) || generated["Provenance"] != int64(len(docRecs)) {
			t.Errorf("%d of %d notes enriched, %d Provenances", enriched, len(docRecs), generated["Provenance"])
		}
		for _, typ := range []string{"Condition", "MedicationStatement", "Observation"} {
			if generated[typ] == 0 {
				t.Errorf("no %s generated from the demo notes", typ)
			}
		}
	}
	t.Logf("demo load: %v plain, %v with nlp (+%.0f%%)", took[false].Round(time.Millisecond), took[true].Round(time.Millisecond), 100*(took[true].Seconds()/took[false].Seconds()-1))
}

// TestNLPFlags: --nlp-auto is off by default, on with the flag, its variable or --demo;
// --nlp-max-chars defaults to enrich.DefaultMaxChars and must be positive.
func TestNLPFlags(t *testing.T) {
	cases := []struct {
		args     []string
		env      map[string]string
		auto     bool
		maxChars int
	}{
		{nil, nil, false, enrich.DefaultMaxChars},
		{[]string{"--nlp-auto"}, nil, true, enrich.DefaultMaxChars},
		{nil, map[string]string{"FHIRGATE_NLP_AUTO": "true", "FHIRGATE_NLP_MAX_CHARS": "250000"}, true, 250_000},
		{[]string{"--demo"}, nil, true, enrich.DefaultMaxChars},
		{[]string{"--nlp-max-chars", "5000"}, nil, false, 5000},
	}
	for _, c := range cases {
		cfg, err := parseConfig(append([]string{"fhirgate"}, c.args...), func(k string) string { return c.env[k] }, &strings.Builder{})
		if err != nil {
			t.Fatalf("%v %v: %v", c.args, c.env, err)
		}
		if cfg.api.NLP.Auto != c.auto || cfg.api.NLP.MaxChars != c.maxChars {
			t.Errorf("%v %v: auto %v, max %d; want %v, %d", c.args, c.env, cfg.api.NLP.Auto, cfg.api.NLP.MaxChars, c.auto, c.maxChars)
		}
	}
	if _, err := parseConfig([]string{"fhirgate", "--nlp-max-chars", "0"}, func(string) string { return "" }, &strings.Builder{}); err == nil {
		t.Error("--nlp-max-chars 0 accepted")
	}
}
