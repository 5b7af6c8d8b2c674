package enrich

import (
	"math"
	"strconv"
	"strings"

	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/nlp"
)

// The extensions the enrichment sets on a DocumentReference. The layout (README,
// "Clinical NLP") is ours:
//
//	ExtAnalysis, once:     version (valueString), provenance (valueReference),
//	                       entities (valueInteger: how many ExtEntity follow)
//	ExtEntity, per entity: id, attachment, beginOffset, endOffset (valueInteger),
//	                       category, type (valueCode), score (valueDecimal),
//	                       trait* {name valueCode, score valueDecimal},
//	                       concept* {coding valueCoding, score valueDecimal},
//	                       attribute* {type, relationshipType (valueCode), score,
//	                                   beginOffset, endOffset, trait*},
//	                       resource (valueReference: what the entity generated)
//
// The entities' and attributes' text is not copied: offsets locate it in the note, and
// a role that may read extensions but not the note (the analyst's de-identified view)
// must not find names and identifiers of the note there.
const (
	ExtAnalysis = "http://fhirgate.dev/fhir/StructureDefinition/nlp-analysis"
	ExtEntity   = "http://fhirgate.dev/fhir/StructureDefinition/nlp-entity"
)

// setExtensions replaces the enrichment's extensions on doc, keeping all others in order.
func setExtensions(doc *model.DocumentReference, findings []Finding, links map[int]string, provenance string) {
	kept := doc.Extension[:0:0]
	for _, x := range doc.Extension {
		if x == nil || x.Url == nil || (string(*x.Url) != ExtAnalysis && string(*x.Url) != ExtEntity) {
			kept = append(kept, x)
		}
	}
	version := nlp.Version
	kept = append(kept, nested(ExtAnalysis,
		&model.Extension{Url: uri("version"), ValueString: &version},
		&model.Extension{Url: uri("provenance"), ValueReference: reference("Provenance/" + provenance)},
		integer("entities", len(findings)),
	))
	for i, f := range findings {
		kept = append(kept, entityExtension(f, links[i]))
	}
	doc.Extension = kept
}

func entityExtension(f Finding, resource string) *model.Extension {
	parts := []*model.Extension{
		integer("id", f.ID),
		integer("attachment", f.Attachment),
		code("category", f.Category),
		code("type", f.Type),
		decimal("score", f.Score),
		integer("beginOffset", f.BeginOffset),
		integer("endOffset", f.EndOffset),
	}
	parts = append(parts, traits(f.Traits)...)
	for _, c := range f.Concepts {
		parts = append(parts, nested("concept",
			&model.Extension{Url: uri("coding"), ValueCoding: modelCoding(conceptSystem(f.Category), c.Code, c.Description)},
			decimal("score", c.Score),
		))
	}
	for _, a := range f.Attributes {
		attr := []*model.Extension{code("type", a.Type), decimal("score", a.Score), integer("beginOffset", a.BeginOffset), integer("endOffset", a.EndOffset)}
		if rt := strings.TrimSpace(a.RelationshipType); rt != "" {
			attr = append(attr, code("relationshipType", rt))
		}
		attr = append(attr, traits(a.Traits)...)
		parts = append(parts, nested("attribute", attr...))
	}
	if resource != "" {
		parts = append(parts, &model.Extension{Url: uri("resource"), ValueReference: reference(resource)})
	}
	return nested(ExtEntity, parts...)
}

// ConceptSystem returns the code system of the concepts of an entity category: ICD-10-CM
// for conditions, RxNorm for medications, "" for the others.
func ConceptSystem(category string) string { return conceptSystem(category) }

func conceptSystem(category string) string {
	switch category {
	case catCondition:
		return ICD10CM
	case catMedication:
		return RxNorm
	}
	return ""
}

func traits(ts []nlp.Trait) []*model.Extension {
	var out []*model.Extension
	for _, t := range ts {
		out = append(out, nested("trait", code("name", t.Name), decimal("score", t.Score)))
	}
	return out
}

func nested(url string, parts ...*model.Extension) *model.Extension {
	return &model.Extension{Url: uri(url), Extension: parts}
}

func uri(s string) *model.URI { u := model.URI(s); return &u }

func integer(url string, n int) *model.Extension {
	return &model.Extension{Url: uri(url), ValueInteger: &n}
}

func code(url, c string) *model.Extension {
	v := model.Code(c)
	return &model.Extension{Url: uri(url), ValueCode: &v}
}

// decimal is a score with at most four decimals.
func decimal(url string, f float64) *model.Extension {
	if f != f || f < 0 { // NaN or negative: not a score
		f = 0
	}
	d := model.Decimal(strconv.FormatFloat(math.Round(f*1e4)/1e4, 'f', -1, 64))
	return &model.Extension{Url: uri(url), ValueDecimal: &d}
}

func reference(r string) *model.Reference { return &model.Reference{Reference: &r} }

func modelCoding(system, c, display string) *model.Coding {
	out := &model.Coding{Code: (*model.Code)(&c)}
	if system != "" {
		out.System = uri(system)
	}
	if display = strings.TrimSpace(display); display != "" {
		out.Display = &display
	}
	return out
}
