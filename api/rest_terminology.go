package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/fhirgate/fhirgate/terminology"
)

// terminologyRoutes serves the terminology operations over the server's registry
// (terminology.Default): GET with query parameters, or POST with a Parameters body, which may
// also carry the resources themselves (valueSet, codeSystem, conceptMap, and any number of
// tx-resource), looked up in a registry layered over the server's for that request only.
func terminologyRoutes(cfg Config, mux *http.ServeMux) {
	ops := map[string]func(*txRequest) (any, error){
		"ValueSet/$expand":          expandOp,
		"ValueSet/$validate-code":   validateValueSetOp,
		"CodeSystem/$validate-code": validateCodeSystemOp,
		"CodeSystem/$lookup":        lookupOp,
		"CodeSystem/$subsumes":      subsumesOp,
		"ConceptMap/$translate":     translateOp,
	}
	for path, op := range ops {
		h := func(w http.ResponseWriter, r *http.Request) {
			req, err := readTxRequest(r)
			var out any
			if err == nil {
				out, err = op(req)
			}
			if err != nil {
				writeError(cfg, w, r, err)
				return
			}
			writeFHIR(w, http.StatusOK, out)
		}
		mux.HandleFunc("GET /fhir/"+path, h)
		mux.HandleFunc("POST /fhir/"+path, h)
	}
}

// txRequest is one terminology operation's input parameters and its request registry.
type txRequest struct {
	ps  *parameters
	reg *terminology.Registry
}

// readTxRequest reads the operation's parameters from the query (GET) or the body (POST),
// and adds the body's tx-resource parameters to a request registry.
func readTxRequest(r *http.Request) (*txRequest, error) {
	req := &txRequest{ps: &parameters{ResourceType: "Parameters"}, reg: terminology.NewRegistry(terminology.Default())}
	if r.Method == http.MethodGet {
		for name, values := range r.URL.Query() {
			for _, v := range values {
				s, _ := json.Marshal(v)
				req.ps.Parameter = append(req.ps.Parameter, parameter{Name: name, Value: map[string]json.RawMessage{"valueString": s}})
			}
		}
		return req, nil
	}
	ps, err := readParameters(r)
	if err != nil {
		return nil, err
	}
	req.ps = ps
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
	s, _ := q.ps.str(name)
	return s
}

// integer is the integer parameter name (valueInteger, or a query string), or 0.
func (q *txRequest) integer(name string) (int, error) {
	p := q.ps.get(name)
	if p == nil {
		return 0, nil
	}
	for _, v := range p.Value {
		var n int
		if json.Unmarshal(v, &n) == nil {
			return n, nil
		}
		var s string
		if json.Unmarshal(v, &s) == nil {
			if n, err := strconv.Atoi(s); err == nil {
				return n, nil
			}
		}
	}
	return 0, fmt.Errorf("%w: parameter %s must be an integer", terminology.ErrInvalid, name)
}

// coding is the Coding parameter name (valueCoding), or nil.
func (q *txRequest) coding(name string) *terminology.Coding {
	p := q.ps.get(name)
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
	if p := q.ps.get("codeableConcept"); p != nil && p.Value["valueCodeableConcept"] != nil {
		var cc struct{ Coding []terminology.Coding }
		if json.Unmarshal(p.Value["valueCodeableConcept"], &cc) == nil && len(cc.Coding) > 0 {
			return cc.Coding
		}
	}
	return []terminology.Coding{{System: q.str(systemParam), Code: q.str("code"), Display: q.str("display")}}
}

// inline adds the resource parameter name to the request registry and returns its url.
func (q *txRequest) inline(name string) (string, bool, error) {
	p := q.ps.get(name)
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
	offset, err := q.integer("offset")
	if err != nil {
		return nil, err
	}
	count, err := q.integer("count")
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
	out := &parameters{ResourceType: "Parameters"}
	out.add("result", "valueBoolean", v.Result)
	if v.Message != "" {
		out.add("message", "valueString", v.Message)
	}
	if v.Display != "" {
		out.add("display", "valueString", v.Display)
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
	out := &parameters{ResourceType: "Parameters"}
	out.add("name", "valueString", res.Name)
	if res.Version != "" {
		out.add("version", "valueString", res.Version)
	}
	out.add("display", "valueString", res.Display)
	if res.Definition != "" {
		out.add("definition", "valueString", res.Definition)
	}
	for _, d := range res.Designation {
		p := parameter{Name: "designation"}
		if d.Language != "" {
			p.Part = append(p.Part, valueParam("language", "valueCode", d.Language))
		}
		if d.Use != nil {
			p.Part = append(p.Part, valueParam("use", "valueCoding", d.Use))
		}
		p.Part = append(p.Part, valueParam("value", "valueString", d.Value))
		out.Parameter = append(out.Parameter, p)
	}
	for _, prop := range res.Property {
		var value map[string]any
		b, _ := json.Marshal(prop)
		json.Unmarshal(b, &value)
		p := parameter{Name: "property", Part: []parameter{valueParam("code", "valueCode", prop.Code)}}
		for k, v := range value {
			if k != "code" {
				p.Part = append(p.Part, valueParam("value", k, v))
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
	out := &parameters{ResourceType: "Parameters"}
	out.add("outcome", "valueCode", string(outcome))
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
		System: c.System, Code: c.Code, TargetSystem: q.str("targetsystem"), Reverse: q.str("reverse") == "true" || q.boolean("reverse"),
	})
	if err != nil {
		return nil, err
	}
	out := &parameters{ResourceType: "Parameters"}
	out.add("result", "valueBoolean", res.Result)
	if res.Message != "" {
		out.add("message", "valueString", res.Message)
	}
	for _, m := range res.Matches {
		out.Parameter = append(out.Parameter, parameter{Name: "match", Part: []parameter{
			valueParam("equivalence", "valueCode", m.Equivalence),
			valueParam("concept", "valueCoding", m.Concept),
			valueParam("source", "valueUri", m.Source),
		}})
	}
	return out, nil
}

// boolean reports whether the parameter name is valueBoolean true.
func (q *txRequest) boolean(name string) bool {
	p := q.ps.get(name)
	return p != nil && string(p.Value["valueBoolean"]) == "true"
}

// add appends a parameter with one value[x].
func (ps *parameters) add(name, key string, v any) {
	ps.Parameter = append(ps.Parameter, valueParam(name, key, v))
}

// valueParam is a parameter named name whose value[x] key is key.
func valueParam(name, key string, v any) parameter {
	b, _ := json.Marshal(v)
	return parameter{Name: name, Value: map[string]json.RawMessage{key: b}}
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
