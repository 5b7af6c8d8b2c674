package enrich

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/nlp"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
)

// Entity categories and traits the generator acts on.
const (
	catCondition  = nlp.MedicalCondition
	catMedication = nlp.Medication
	catTest       = nlp.TestTreatmentProcedure

	traitNegation     = nlp.TraitNegation
	traitHypothetical = nlp.TraitHypothetic
	traitFamily       = nlp.TraitFamily
	traitHistorical   = nlp.TraitHistory
)

// generatedTypes are the types the enrichment writes besides the document.
var generatedTypes = []string{"Condition", "MedicationStatement", "Observation", "Provenance"}

// maxPrevious bounds the resources of one type a previous enrichment may have left.
const maxPrevious = 10_000

// previousOutput is the enrichment a document had.
type previousOutput struct {
	byKey      map[string]model.LiteralRef // identifier value -> resource
	all        []model.LiteralRef
	provenance string // id of its Provenance, or "" until provenanceID assigns one
	hasProv    bool   // whether provenance names a stored Provenance
}

// previous finds the resources of the previous enrichment of document id by their
// document tag, whatever pipeline version wrote them. A document not yet stored has none.
func (e *Enricher) previous(ctx context.Context, id string) (*previousOutput, error) {
	p := &previousOutput{byKey: map[string]model.LiteralRef{}}
	if _, err := e.Store.Read(ctx, "DocumentReference", id); errors.Is(err, storage.ErrNotFound) {
		return p, nil
	} else if err != nil && !errors.Is(err, storage.ErrDeleted) {
		return nil, err
	}
	for _, typ := range generatedTypes {
		q, err := search.Parse(typ, map[string]any{"_tag": DocumentTagSystem + "|" + id})
		if err != nil {
			return nil, err
		}
		recs, err := (&search.Runner{Store: e.Store, ListLimit: maxPrevious, PageSize: maxPrevious}).List(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, rec := range recs {
			ref := model.LiteralRef{Type: typ, ID: rec.ID}
			p.all = append(p.all, ref)
			if typ == "Provenance" {
				if !p.hasProv {
					p.provenance, p.hasProv = rec.ID, true
				}
				continue
			}
			var head struct {
				Identifier []struct{ System, Value string }
			}
			if json.Unmarshal(rec.JSON, &head) != nil {
				continue
			}
			for _, ident := range head.Identifier {
				if ident.System == FindingSystem {
					p.byKey[typ+" "+ident.Value] = ref
				}
			}
		}
	}
	return p, nil
}

// unused returns the previous resources that gen does not rewrite.
func (p *previousOutput) unused(gen []*generated) []model.LiteralRef {
	kept := map[string]bool{"Provenance/" + p.provenance: true}
	for _, g := range gen {
		kept[g.typ+"/"+g.id] = true
	}
	var out []model.LiteralRef
	for _, ref := range p.all {
		if !kept[ref.Relative()] {
			out = append(out, ref)
		}
	}
	return out
}

// generated is one resource the enrichment writes.
type generated struct {
	typ, id string
	update  bool // replaces a resource of the previous enrichment
	res     map[string]any
}

func (g *generated) write() storage.Write {
	op := storage.OpCreate
	if g.update {
		op = storage.OpPut
	}
	g.res["resourceType"], g.res["id"] = g.typ, g.id
	b, err := json.Marshal(g.res)
	var res model.Resource
	if err == nil {
		res, err = model.Unmarshal(b)
	}
	if err != nil {
		// Built here from checked values: a failure is a defect of this package. The
		// commit refuses a nil resource, so nothing is written.
		panic(fmt.Sprintf("enrich: generated %s does not parse: %v", g.typ, err))
	}
	return storage.Write{Op: op, Type: g.typ, ID: g.id, Resource: res}
}

// generator builds the resources of one document's enrichment.
type generator struct {
	doc      *model.DocumentReference
	prev     *previousOutput
	minScore float64
	now      time.Time

	// links maps a finding's index to the resource generated from it.
	links map[int]string
}

func (g *generator) docRef() string { return "DocumentReference/" + g.doc.ResourceID() }

// subject returns the document's subject when resources can be generated about it: a
// Patient or Group, the types Condition, MedicationStatement and Observation all accept.
func (g *generator) subject() (string, bool) {
	if g.doc.Subject == nil || g.doc.Subject.Reference == nil {
		return "", false
	}
	ref, ok := model.ParseReference(*g.doc.Subject.Reference)
	if !ok || !ref.IsRelative() || (ref.Type != "Patient" && ref.Type != "Group") {
		return "", false
	}
	return ref.Relative(), true
}

// resources returns the Conditions, MedicationStatements and Observations the findings
// assert, one per distinct finding, in the order of first mention.
func (g *generator) resources(findings []Finding) []*generated {
	g.links = map[int]string{}
	subject, ok := g.subject()
	if !ok {
		return nil
	}
	var out []*generated
	byKey := map[string]*generated{}
	seen := map[string]int{}
	for i, f := range findings {
		if !g.asserted(f) {
			continue
		}
		typ, key, build := g.kind(f, seen)
		if build == nil {
			continue
		}
		if r := byKey[typ+" "+key]; r != nil {
			g.links[i] = r.typ + "/" + r.id
			continue
		}
		r := &generated{typ: typ, res: build()}
		ident := g.docRef() + "#" + key
		if prev, ok := g.prev.byKey[typ+" "+ident]; ok {
			r.id, r.update = prev.ID, true
		} else {
			r.id = newID()
		}
		r.res["meta"] = g.meta()
		r.res["identifier"] = []any{map[string]any{"system": FindingSystem, "value": ident}}
		r.res["subject"] = ref(subject)
		byKey[typ+" "+key] = r
		g.links[i] = typ + "/" + r.id
		out = append(out, r)
	}
	return out
}

// asserted reports whether a finding says something of the patient that a resource may
// record: confident enough, not negated, not hypothetical, not someone else's.
func (g *generator) asserted(f Finding) bool {
	return float64(f.Score) >= g.minScore && !hasTrait(f.Traits, traitNegation) && !hasTrait(f.Traits, traitHypothetical) && !hasTrait(f.Traits, traitFamily)
}

func hasTrait(traits []nlp.Trait, name string) bool {
	for _, t := range traits {
		if string(t.Name) == name {
			return true
		}
	}
	return false
}

// kind returns the type, the finding key (unique within the document, stable across
// re-runs) and the builder of the resource a finding generates; a nil builder when it
// generates none. seen counts the tests met so far by name.
func (g *generator) kind(f Finding, seen map[string]int) (typ, key string, build func() map[string]any) {
	switch string(f.Category) {
	case catCondition:
		if len(f.Concepts) == 0 {
			return "", "", nil
		}
		c := f.Concepts[0]
		return "Condition", "condition|" + c.Code, func() map[string]any { return g.condition(f, c) }
	case catMedication:
		key = "medication|text:" + strings.ToLower(f.Text)
		if len(f.Concepts) > 0 {
			key = "medication|" + f.Concepts[0].Code
		}
		return "MedicationStatement", key, func() map[string]any { return g.medication(f) }
	case catTest:
		value, unit := testValue(f)
		if value == "" {
			return "", "", nil
		}
		name := strings.ToLower(f.Text)
		seen[name]++
		return "Observation", "observation|" + name + "|" + strconv.Itoa(seen[name]), func() map[string]any { return g.observation(f, value, unit) }
	}
	return "", "", nil
}

func (g *generator) condition(f Finding, c nlp.Concept) map[string]any {
	r := map[string]any{
		"code": map[string]any{"coding": []any{coding(ICD10CM, c.Code, c.Description)}, "text": f.Text},
		"verificationStatus": map[string]any{"coding": []any{
			coding("http://terminology.hl7.org/CodeSystem/condition-ver-status", "unconfirmed", "Unconfirmed"),
		}},
		"evidence": []any{map[string]any{"detail": []any{ref(g.docRef())}}},
	}
	if enc := g.encounter(); enc != "" {
		r["encounter"] = ref(enc)
	}
	if g.doc.Date != nil {
		r["recordedDate"] = string(*g.doc.Date)
	}
	return r
}

func (g *generator) medication(f Finding) map[string]any {
	concept := map[string]any{"text": f.Text}
	if len(f.Concepts) > 0 {
		c := f.Concepts[0]
		concept["coding"] = []any{coding(RxNorm, c.Code, c.Description)}
	}
	status := "active"
	if hasTrait(f.Traits, traitHistorical) {
		status = "completed"
	}
	r := map[string]any{
		"status":                    status,
		"medicationCodeableConcept": concept,
		"derivedFrom":               []any{ref(g.docRef())},
	}
	if enc := g.encounter(); enc != "" {
		r["context"] = ref(enc)
	}
	if g.doc.Date != nil {
		r["dateAsserted"] = string(*g.doc.Date)
	}
	if dose := dosageText(f); dose != "" {
		r["dosage"] = []any{map[string]any{"text": dose}}
	}
	return r
}

func (g *generator) observation(f Finding, value, unit string) map[string]any {
	r := map[string]any{
		"status":      "final",
		"code":        map[string]any{"text": f.Text},
		"derivedFrom": []any{ref(g.docRef())},
	}
	if decimalRE.MatchString(value) {
		q := map[string]any{"value": json.Number(value)}
		if unit != "" {
			q["unit"] = unit
		}
		r["valueQuantity"] = q
	} else {
		r["valueString"] = strings.TrimSpace(value + " " + unit)
	}
	if enc := g.encounter(); enc != "" {
		r["encounter"] = ref(enc)
	}
	if g.doc.Date != nil {
		r["effectiveDateTime"] = string(*g.doc.Date)
	}
	return r
}

// decimalRE is FHIR's decimal.
var decimalRE = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?$`)

// testValue returns the text of a test's value and unit attributes.
func testValue(f Finding) (value, unit string) {
	for _, a := range f.Attributes {
		switch string(a.Type) {
		case "TEST_VALUE":
			if value == "" {
				value = strings.TrimSpace(a.Text)
			}
		case "TEST_UNIT":
			if unit == "" {
				unit = strings.TrimSpace(a.Text)
			}
		}
	}
	return value, unit
}

// dosageText is a medication's attributes in the order of the text: "500 mg oral twice daily".
func dosageText(f Finding) string {
	attrs := append([]nlp.Attribute(nil), f.Attributes...)
	sort.SliceStable(attrs, func(i, j int) bool { return attrs[i].BeginOffset < attrs[j].BeginOffset })
	var parts []string
	for _, a := range attrs {
		if t := strings.TrimSpace(a.Text); t != "" {
			parts = append(parts, t)
		}
	}
	return strings.Join(parts, " ")
}

// encounter returns the document's first encounter, if any.
func (g *generator) encounter() string {
	if g.doc.Context == nil {
		return ""
	}
	for _, e := range g.doc.Context.Encounter {
		if e != nil && e.Reference != nil {
			if r, ok := model.ParseReference(*e.Reference); ok && r.IsRelative() && r.Type == "Encounter" {
				return r.Relative()
			}
		}
	}
	return ""
}

// meta tags a generated resource: NLP-generated, from which document, by which version.
func (g *generator) meta() map[string]any {
	return map[string]any{"tag": []any{
		coding(TagSystem, TagGenerated, "Generated by fhirgate clinical NLP"),
		coding(DocumentTagSystem, g.doc.ResourceID(), ""),
		coding(VersionTagSystem, nlp.Version, ""),
	}}
}

// provenanceID returns the id of the enrichment's Provenance: the previous one's, else new.
func (g *generator) provenanceID() string {
	if g.prev.provenance == "" {
		g.prev.provenance = newID()
	}
	return g.prev.provenance
}

// provenance records the analysis: the pipeline and its version as the agent, the
// document as the source, and as targets the document, the generated resources and the
// patient (which puts the Provenance in the patient's compartment, beside the data it
// explains).
func (g *generator) provenance(gen []*generated) *generated {
	targets := []any{ref(g.docRef())}
	for _, r := range gen {
		targets = append(targets, ref(r.typ+"/"+r.id))
	}
	if s, ok := g.subject(); ok && strings.HasPrefix(s, "Patient/") {
		targets = append(targets, ref(s))
	}
	id := g.provenanceID()
	return &generated{typ: "Provenance", id: id, update: g.prev.hasProv, res: map[string]any{
		"meta":     g.meta(),
		"target":   targets,
		"recorded": g.now.UTC().Format("2006-01-02T15:04:05.000Z"),
		"agent": []any{map[string]any{
			"type": map[string]any{"coding": []any{
				coding("http://terminology.hl7.org/CodeSystem/provenance-participant-type", "assembler", "Assembler"),
			}},
			"who": map[string]any{
				"identifier": map[string]any{"system": TagSystem, "value": "fhirgate-nlp/" + nlp.Version},
				"display":    "fhirgate clinical NLP pipeline " + nlp.Version,
			},
		}},
		"entity": []any{map[string]any{"role": "source", "what": ref(g.docRef())}},
	}}
}

func ref(r string) map[string]any { return map[string]any{"reference": r} }

func coding(system, code, display string) map[string]any {
	c := map[string]any{"system": system, "code": code}
	if display = strings.TrimSpace(display); display != "" {
		c["display"] = display
	}
	return c
}
