package enrich

import (
	"encoding/json"
	"fmt"
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
	kept = append(kept, extension(ExtAnalysis,
		sub("version", "valueString", nlp.Version),
		sub("provenance", "valueReference", ref("Provenance/"+provenance)),
		sub("entities", "valueInteger", len(findings)),
	))
	for i, f := range findings {
		kept = append(kept, entityExtension(f, links[i]))
	}
	doc.Extension = kept
}

func entityExtension(f Finding, resource string) *model.Extension {
	parts := []map[string]any{
		sub("id", "valueInteger", f.ID),
		sub("attachment", "valueInteger", f.Attachment),
		sub("category", "valueCode", string(f.Category)),
		sub("type", "valueCode", string(f.Type)),
		sub("score", "valueDecimal", decimal(float64(f.Score))),
		sub("beginOffset", "valueInteger", f.BeginOffset),
		sub("endOffset", "valueInteger", f.EndOffset),
	}
	parts = append(parts, traits(f.Traits)...)
	for _, c := range f.Concepts {
		parts = append(parts, nested("concept",
			sub("coding", "valueCoding", coding(conceptSystem(string(f.Category)), c.Code, c.Description)),
			sub("score", "valueDecimal", decimal(float64(c.Score))),
		))
	}
	for _, a := range f.Attributes {
		attr := []map[string]any{
			sub("type", "valueCode", string(a.Type)),
			sub("score", "valueDecimal", decimal(float64(a.Score))),
			sub("beginOffset", "valueInteger", a.BeginOffset),
			sub("endOffset", "valueInteger", a.EndOffset),
		}
		if rt := strings.TrimSpace(string(a.RelationshipType)); rt != "" {
			attr = append(attr, sub("relationshipType", "valueCode", rt))
		}
		attr = append(attr, traits(a.Traits)...)
		parts = append(parts, nested("attribute", attr...))
	}
	if resource != "" {
		parts = append(parts, sub("resource", "valueReference", ref(resource)))
	}
	return extension(ExtEntity, parts...)
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

func traits(ts []nlp.Trait) []map[string]any {
	var out []map[string]any
	for _, t := range ts {
		out = append(out, nested("trait",
			sub("name", "valueCode", string(t.Name)),
			sub("score", "valueDecimal", decimal(float64(t.Score))),
		))
	}
	return out
}

func sub(url, valueKey string, value any) map[string]any {
	return map[string]any{"url": url, valueKey: value}
}

func nested(url string, parts ...map[string]any) map[string]any {
	return map[string]any{"url": url, "extension": parts}
}

// extension builds a model extension from its JSON shape.
func extension(url string, parts ...map[string]any) *model.Extension {
	b, err := json.Marshal(nested(url, parts...))
	var x model.Extension
	if err == nil {
		err = json.Unmarshal(b, &x)
	}
	if err != nil {
		panic(fmt.Sprintf("enrich: extension %s: %v", url, err)) // built from checked values
	}
	return &x
}

// decimal renders a score with at most four decimals, as a JSON number.
func decimal(f float64) json.Number {
	if f != f || f < 0 { // NaN or negative: not a score
		f = 0
	}
	return json.Number(strconv.FormatFloat(math.Round(f*1e4)/1e4, 'f', -1, 64))
}
