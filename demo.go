package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/demo"
	"github.com/fhirgate/fhirgate/enrich"
	"github.com/fhirgate/fhirgate/fhirjson"
	"github.com/fhirgate/fhirgate/ingest"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/storage"
)

// loadDemo writes the synthetic population into the datastore when it holds no patients yet,
// and returns how many resources it wrote. It goes the way of `fhirgate import`: the
// population is written as one NDJSON file per type and imported by package ingest. With
// automatic NLP, each commit carries the enrichment of its notes (not counted).
func loadDemo(ctx context.Context, store *storage.Store, nlp api.NLPConfig, logger *slog.Logger) (int, error) {
	if total, err := store.Count(ctx, "Patient", storage.Query{}); err != nil {
		return 0, err
	} else if total > 0 {
		return 0, nil
	}
	dir, err := os.MkdirTemp("", "fhirgate-demo-")
	if err != nil {
		return 0, fmt.Errorf("demo data: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := writeDemoNDJSON(dir, demo.Generate(demo.DefaultOptions())); err != nil {
		return 0, err
	}

	var mu sync.Mutex
	var refused []error
	im := &ingest.Importer{Store: store, OnError: func(e ingest.LineError) {
		mu.Lock()
		refused = append(refused, errors.New(e.String()))
		mu.Unlock()
	}}
	if nlp.Auto {
		enricher := &enrich.Enricher{Store: store, MaxChars: nlp.MaxChars}
		im.Expand = func(ctx context.Context, writes []storage.Write) []storage.Write {
			return enrichNotes(ctx, enricher, writes, logger)
		}
	}
	if err := im.Import(ctx, []string{dir}); err != nil {
		return 0, err
	}
	if len(refused) > 0 {
		return 0, fmt.Errorf("demo resources refused: %w", errors.Join(refused...))
	}
	return int(im.Stats().Written), nil
}

// writeDemoNDJSON writes raws into dir, one <Type>.ndjson file per resource type.
func writeDemoNDJSON(dir string, raws []json.RawMessage) error {
	files := map[string]*os.File{}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, raw := range raws {
		res, err := fhirjson.Parse(raw)
		if err != nil {
			return fmt.Errorf("demo resource is not valid FHIR: %w", err)
		}
		typ := res.Type()
		f := files[typ]
		if f == nil {
			if f, err = os.Create(filepath.Join(dir, typ+".ndjson")); err != nil {
				return fmt.Errorf("demo data: %w", err)
			}
			files[typ] = f
		}
		line, err := res.MarshalJSON()
		if err != nil {
			return fmt.Errorf("demo resource %s: %w", typ, err)
		}
		if _, err := f.Write(append(line, '\n')); err != nil {
			return fmt.Errorf("demo data: %w", err)
		}
	}
	for typ, f := range files {
		if err := f.Close(); err != nil {
			return fmt.Errorf("demo data %s: %w", typ, err)
		}
		delete(files, typ)
	}
	return nil
}

// enrichNotes returns the enrichment of the notes among writes, which it takes as the
// enricher does, typed: their DocumentReferences are replaced by the model's, which the
// enrichment annotates.
func enrichNotes(ctx context.Context, e *enrich.Enricher, writes []storage.Write, logger *slog.Logger) []storage.Write {
	for i, w := range writes {
		if w.Type != "DocumentReference" || w.Resource == nil {
			continue
		}
		b, err := w.Resource.MarshalJSON()
		if err != nil {
			continue
		}
		if doc, err := model.Unmarshal(b); err == nil {
			writes[i].Resource = doc
		}
	}
	return e.Expand(ctx, writes, logger)
}
