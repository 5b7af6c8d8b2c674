package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/demo"
	"github.com/fhirgate/fhirgate/enrich"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/storage"
)

// demoBatch is how many resources one demo commit writes.
const demoBatch = 200

// loadDemo writes the synthetic population into the datastore when it holds no patients yet,
// and returns how many resources it wrote. With automatic NLP, each batch carries the
// enrichment of its notes (not counted).
func loadDemo(ctx context.Context, store *storage.Store, nlp api.NLPConfig, logger *slog.Logger) (int, error) {
	if total, err := store.Count(ctx, "Patient", storage.Query{}); err != nil {
		return 0, err
	} else if total > 0 {
		return 0, nil
	}
	raws := demo.Generate(demo.DefaultOptions())
	enricher := &enrich.Enricher{Store: store, MaxChars: nlp.MaxChars}
	writes := make([]storage.Write, 0, demoBatch)
	flush := func() error {
		if len(writes) == 0 {
			return nil
		}
		if nlp.Auto {
			writes = append(writes, enricher.Expand(ctx, writes, logger)...)
		}
		_, err := store.Commit(ctx, writes)
		writes = writes[:0]
		return err
	}
	for _, raw := range raws {
		res, err := model.Unmarshal(raw)
		if err != nil {
			return 0, fmt.Errorf("demo resource is not valid FHIR: %w", err)
		}
		writes = append(writes, storage.Write{Op: storage.OpPut, Type: res.TypeName(), ID: res.ResourceID(), Resource: res})
		if len(writes) == demoBatch {
			if err := flush(); err != nil {
				return 0, err
			}
		}
	}
	return len(raws), flush()
}
