package operation

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/fhirgate/fhirgate/terminology"
)

// terminologyOps are the terminology operations over the server's registry
// (terminology.Default). A request may carry the resources themselves (valueSet,
// codeSystem, conceptMap, and any number of tx-resource): they are looked up in a registry
// layered over the server's, for that request only.
var terminologyOps = map[string]func(*txRequest) (any, error){
	"ValueSet/$expand":          expandOp,
	"ValueSet/$validate-code":   validateValueSetOp,
	"CodeSystem/$validate-code": validateCodeSystemOp,
	"CodeSystem/$lookup":        lookupOp,
	"CodeSystem/$subsumes":      subsumesOp,
	"ConceptMap/$translate":     translateOp,
}

func init() {
	for path, op := range terminologyOps {
		register(path, func(_ context.Context, ps *Parameters) (any, error) {
			q, err := newTxRequest(ps)
			if err != nil {
				return nil, err
			}
			return op(q)
		})
	}
}

// txRequest is one terminology operation's input parameters and its request registry.
type txRequest struct {
	ps  *Parameters
	reg *terminology.Registry
}

// newTxRequest adds the tx-resource parameters to a request registry.
func newTxRequest(ps *Parameters) (*txRequest, error) {
	req := &txRequest{ps: ps, reg: terminology.NewRegistry(terminology.Default())}
	for _, p := range ps.Parameter {
		if p.Name == "tx-resource" && p.Resource != nil {
			if err := req.reg.AddResource(p.Resource); err != nil {
				return nil, err
			}
		}
	}
	return req, nil
}

// str is the string parameter name, or "".
func (q *txRequest) str(name string) string {
	s, _ := q.ps.Str(name)
	return s
}

// coding is the Coding parameter name (valueCoding), or nil.
func (q *txRequest) coding(name string) *terminology.Coding {
	p := q.ps.Get(name)
	if p == nil || p.Value["valueCoding"] == nil {
		return nil
	}
	var c terminology.Coding
	if json.Unmarshal(p.Value["valueCoding"], &c) != nil {
		return nil
	}
	return &c
}

// codings is what the request asks about: system, code and display parameters, or a
// coding, or a codeableConcept's codings.
func (q *txRequest) codings(systemParam string) []terminology.Coding {
	if c := q.coding("coding"); c != nil {
		return []terminology.Coding{*c}
	}
	if p := q.ps.Get("codeableConcept"); p != nil && p.Value["valueCodeableConcept"] != nil {
		var cc struct{ Coding []terminology.Coding }
		if json.Unmarshal(p.Value["valueCodeableConcept"], &cc) == nil && len(cc.Coding) > 0 {
			return cc.Coding
		}
	}
	return []terminology.Coding{{System: q.str(systemParam), Code: q.str("code"), Display: q.str("display")}}
}

// inline adds the resource parameter name to the request registry and returns its url.
func (q *txRequest) inline(name string) (string, bool, error) {
	p := q.ps.Get(name)
	if p == nil || p.Resource == nil {
		return "", false, nil
	}
	var head struct{ URL string }
	json.Unmarshal(p.Resource, &head)
	if head.URL == "" {
		head.URL = "urn:fhirgate:inline:" + name
		var m map[string]json.RawMessage
		if err := json.Unmarshal(p.Resource, &m); err != nil {
			return "", false, fmt.Errorf("%w: parameter %s is not a FHIR resource", terminology.ErrInvalid, name)
		}
		m["url"], _ = json.Marshal(head.URL)
		p.Resource, _ = json.Marshal(m)
	}
	if err := q.reg.AddResource(p.Resource); err != nil {
		return "", false, err
	}
	return head.URL, true, nil
}

// valueSet is the value set the request names: inline (valueSet) or by url.
func (q *txRequest) valueSet() (*terminology.ValueSet, error) {
	url, ok, err := q.inline("valueSet")
	if err != nil {
		return nil, err
	}
	if !ok {
		url = q.str("url")
		if url == "" {
			return nil, fmt.Errorf("%w: a url or a valueSet is required", terminology.ErrInvalid)
		}
	}
	vs := q.reg.ValueSet(url)
	if vs == nil {
		return nil, fmt.Errorf("%w: value set %q is not known to this server", terminology.ErrNotFound, url)
	}
	return vs, nil
}

func expandOp(q *txRequest) (any, error) {
	vs, err := q.valueSet()
	if err != nil {
		return nil, err
	}
	offset, err := q.ps.Int("offset")
	if err != nil {
		return nil, err
	}
	count, err := q.ps.Int("count")
	if err != nil {
		return nil, err
	}
	return q.reg.ExpandValueSet(vs, terminology.ExpandOptions{Filter: q.str("filter"), Offset: offset, Count: count})
}

func validateValueSetOp(q *txRequest) (any, error) {
	vs, err := q.valueSet()
	if err != nil {
		return nil, err
	}
	return validateEach(q.codings("system"), func(c terminology.Coding) (*terminology.Validation, error) {
		return q.reg.ValidateCode(vs, c.System, c.Code, c.Display)
	})
}

func validateCodeSystemOp(q *txRequest) (any, error) {
	url, ok, err := q.inline("codeSystem")
	if err != nil {
		return nil, err
	}
	if !ok {
		url = firstNonEmpty(q.str("url"), q.str("system"))
	}
	codings := q.codings("url")
	for i := range codings {
		if codings[i].System == "" {
			codings[i].System = url
		}
	}
	return validateEach(codings, func(c terminology.Coding) (*terminology.Validation, error) {
		return q.reg.ValidateCodeInSystem(c.System, c.Code, c.Display)
	})
}

// validateEach validates codings in turn: the first valid one answers (a CodeableConcept
// is valid when one of its codings is), else the last.
func validateEach(codings []terminology.Coding, validate func(terminology.Coding) (*terminology.Validation, error)) (any, error) {
	var v *terminology.Validation
	for _, c := range codings {
		var err error
		if v, err = validate(c); err != nil {
			return nil, err
		}
		if v.Result {
			break
		}
	}
	out := NewParameters()
	out.Add("result", "valueBoolean", v.Result)
	if v.Message != "" {
		out.Add("message", "valueString", v.Message)
	}
	if v.Display != "" {
		out.Add("display", "valueString", v.Display)
	}
	return out, nil
}

func lookupOp(q *txRequest) (any, error) {
	c := q.codings("system")[0]
	if c.System == "" || c.Code == "" {
		return nil, fmt.Errorf("%w: $lookup needs a system and a code", terminology.ErrInvalid)
	}
	res, err := q.reg.Lookup(c.System, c.Code)
	if err != nil {
		return nil, err
	}
	out := NewParameters()
	out.Add("name", "valueString", res.Name)
	if res.Version != "" {
		out.Add("version", "valueString", res.Version)
	}
	out.Add("display", "valueString", res.Display)
	if res.Definition != "" {
		out.Add("definition", "valueString", res.Definition)
	}
	for _, d := range res.Designation {
		p := Parameter{Name: "designation"}
		if d.Language != "" {
			p.Part = append(p.Part, Value("language", "valueCode", d.Language))
		}
		if d.Use != nil {
			p.Part = append(p.Part, Value("use", "valueCoding", d.Use))
		}
		p.Part = append(p.Part, Value("value", "valueString", d.Value))
		out.Parameter = append(out.Parameter, p)
	}
	for _, prop := range res.Property {
		var value map[string]any
		b, _ := json.Marshal(prop)
		json.Unmarshal(b, &value)
		p := Parameter{Name: "property", Part: []Parameter{Value("code", "valueCode", prop.Code)}}
		for k, v := range value {
			if k != "code" {
				p.Part = append(p.Part, Value("value", k, v))
			}
		}
		out.Parameter = append(out.Parameter, p)
	}
	return out, nil
}

func subsumesOp(q *txRequest) (any, error) {
	system, a, b := q.str("system"), q.str("codeA"), q.str("codeB")
	if ca, cb := q.coding("codingA"), q.coding("codingB"); ca != nil && cb != nil {
		system, a, b = firstNonEmpty(ca.System, system), ca.Code, cb.Code
		if cb.System != "" && cb.System != system {
			return nil, fmt.Errorf("%w: codingA and codingB must be in the same system", terminology.ErrInvalid)
		}
	}
	outcome, err := q.reg.Subsumes(system, a, b)
	if err != nil {
		return nil, err
	}
	out := NewParameters()
	out.Add("outcome", "valueCode", string(outcome))
	return out, nil
}

func translateOp(q *txRequest) (any, error) {
	url, ok, err := q.inline("conceptMap")
	if err != nil {
		return nil, err
	}
	if !ok {
		url = q.str("url")
	}
	c := q.codings("system")[0]
	res, err := q.reg.Translate(terminology.TranslateRequest{
		ConceptMap: url, Source: q.str("source"), Target: q.str("target"),
		System: c.System, Code: c.Code, TargetSystem: q.str("targetsystem"), Reverse: q.ps.Bool("reverse"),
	})
	if err != nil {
		return nil, err
	}
	out := NewParameters()
	out.Add("result", "valueBoolean", res.Result)
	if res.Message != "" {
		out.Add("message", "valueString", res.Message)
	}
	for _, m := range res.Matches {
		out.Parameter = append(out.Parameter, Parameter{Name: "match", Part: []Parameter{
			Value("equivalence", "valueCode", m.Equivalence),
			Value("concept", "valueCoding", m.Concept),
			Value("source", "valueUri", m.Source),
		}})
	}
	return out, nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
