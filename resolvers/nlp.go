package resolvers

import (
	"context"
	"errors"
	"fmt"

	"github.com/fhirgate/fhirgate/enrich"
	"github.com/fhirgate/fhirgate/graph"
	"github.com/fhirgate/fhirgate/nlp"
)

// errNLPUnavailable is the error of the NLP fields on a server built without an enricher.
var errNLPUnavailable = errors.New("clinical NLP is not configured")

// AnalyzeText runs the pipeline on text and writes nothing. Text longer than the note size
// limit is refused before it is analysed.
func (r *queryResolver) AnalyzeText(ctx context.Context, text string) (*graph.NLPResult, error) {
	e := r.Resolver.NLP
	if e == nil {
		return nil, errNLPUnavailable
	}
	res, err := e.AnalyzeText(text)
	if err != nil {
		return nil, fmt.Errorf("analyzeText: %w", err)
	}
	out := &graph.NLPResult{Version: nlp.Version, Entities: make([]*graph.NLPEntity, len(res.Entities))}
	for i, ent := range res.Entities {
		out.Entities[i] = nlpEntity(ent, nil)
	}
	return out, nil
}

// DocumentReferenceAnalyze analyses a DocumentReference's note and writes its enrichment
// (package enrich).
func (r *mutationResolver) DocumentReferenceAnalyze(ctx context.Context, id string, options *graph.NLPOptions) (*graph.NLPAnalysis, error) {
	e := r.Resolver.NLP
	if e == nil {
		return nil, errNLPUnavailable
	}
	var opt enrich.Options
	if options != nil {
		if options.DryRun != nil {
			opt.DryRun = *options.DryRun
		}
		if options.MinScore != nil {
			if *options.MinScore < 0 || *options.MinScore > 1 {
				return nil, fmt.Errorf("%w: minScore must be between 0 and 1", ErrBadRequest)
			}
			opt.MinScore = *options.MinScore
		}
	}
	o, err := e.Analyze(ctx, id, opt)
	if err != nil {
		return nil, err
	}
	out := &graph.NLPAnalysis{
		Version:    o.Version,
		Document:   o.Document,
		Written:    o.Written,
		Deleted:    o.Deleted,
		Provenance: &o.Provenance,
		Entities:   make([]*graph.NLPEntity, len(o.Findings)),
	}
	if out.Deleted == nil {
		out.Deleted = []string{}
	}
	for i, f := range o.Findings {
		out.Entities[i] = nlpEntity(f.Entity, &f.Attachment)
	}
	return out, nil
}

func nlpEntity(e nlp.Entity, attachment *int) *graph.NLPEntity {
	out := &graph.NLPEntity{
		ID:          int(e.ID),
		Text:        e.Text,
		Category:    graph.NLPCategory(e.Category),
		Type:        string(e.Type),
		Score:       float64(e.Score),
		BeginOffset: int(e.BeginOffset),
		EndOffset:   int(e.EndOffset),
		Traits:      nlpTraits(e.Traits),
		Attributes:  make([]*graph.NLPAttribute, len(e.Attributes)),
		Concepts:    make([]*graph.NLPConcept, len(e.Concepts)),
		Attachment:  attachment,
	}
	for i, a := range e.Attributes {
		out.Attributes[i] = &graph.NLPAttribute{
			Type:        string(a.Type),
			Text:        a.Text,
			Score:       float64(a.Score),
			BeginOffset: int(a.BeginOffset),
			EndOffset:   int(a.EndOffset),
			Traits:      nlpTraits(a.Traits),
		}
		if rt := string(a.RelationshipType); rt != "" {
			out.Attributes[i].RelationshipType = &rt
		}
	}
	var system *string
	if s := enrich.ConceptSystem(string(e.Category)); s != "" {
		system = &s
	}
	for i, c := range e.Concepts {
		out.Concepts[i] = &graph.NLPConcept{Code: c.Code, Description: c.Description, Score: float64(c.Score), System: system}
	}
	return out
}

func nlpTraits(ts []nlp.Trait) []*graph.NLPTrait {
	out := make([]*graph.NLPTrait, len(ts))
	for i, t := range ts {
		out[i] = &graph.NLPTrait{Name: string(t.Name), Score: float64(t.Score)}
	}
	return out
}
