package enrich

import (
	"context"
	"log/slog"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/storage"
)

// Expand is automatic analysis (--nlp-auto): it analyses each DocumentReference that
// writes create or replace, sets its enrichment extensions in place, and returns the
// other writes of their enrichment, to be committed together with writes (all or
// nothing). A note that cannot be analysed, or a caller who may not analyse documents
// and write what analysis writes, leaves its document as it is: the author's write is
// never refused for the enrichment's sake. logger, when set, hears of notes skipped for
// an error (type, id and the error, never content).
func (e *Enricher) Expand(ctx context.Context, writes []storage.Write, logger *slog.Logger) []storage.Write {
	var extra []storage.Write
	permitted := -1 // unknown until a document needs it
	for _, w := range writes {
		doc, ok := w.Resource.(*model.DocumentReference)
		if !ok || w.Op == storage.OpDelete || len(doc.Content) == 0 {
			continue
		}
		if permitted < 0 {
			permitted = 0
			if e.mayEnrich(ctx) {
				permitted = 1
			}
		}
		if permitted == 0 {
			return nil
		}
		p, err := e.Plan(ctx, doc, Options{})
		if err != nil {
			if logger != nil {
				logger.InfoContext(ctx, "nlp-auto: document stored without enrichment", "id", w.ID, "error", err)
			}
			continue
		}
		extra = append(extra, p.Writes...)
	}
	return extra
}

// mayEnrich reports whether the caller in ctx may analyse documents and create, update
// and delete every type the enrichment writes.
func (e *Enricher) mayEnrich(ctx context.Context) bool {
	if e.check(ctx, "DocumentReference", authz.ActAnalyze) != nil {
		return false
	}
	for _, typ := range generatedTypes {
		for _, act := range []string{authz.ActCreate, authz.ActUpdate, authz.ActDelete} {
			if e.check(ctx, typ, act) != nil {
				return false
			}
		}
	}
	return true
}
