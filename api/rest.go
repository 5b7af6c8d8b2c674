package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/fhirgate/fhirgate/fault"
)

// restRoutes are the FHIR REST operations served under /fhir, behind the same authentication,
// audit and body limit as GraphQL. Each operation lives in its own file (rest_*.go) and adds
// its routes here.
func restRoutes(cfg Config, mux *http.ServeMux) {
	terminologyRoutes(cfg, mux)
	fhirpathRoutes(cfg, mux)
}

// newREST returns the handler of /fhir: the operations of restRoutes, and a FHIR
// OperationOutcome for any other path.
func newREST(cfg Config) http.Handler {
	mux := http.NewServeMux()
	restRoutes(cfg, mux)
	mux.HandleFunc("/fhir/", func(w http.ResponseWriter, r *http.Request) {
		writeFHIROutcome(w, http.StatusNotFound, "not-supported", "This server has no FHIR interaction at "+r.URL.Path+".")
	})
	return withRequestContext(cfg, mux)
}

// parameters is a FHIR Parameters resource as operations read and write it.
type parameters struct {
	ResourceType string      `json:"resourceType"`
	Parameter    []parameter `json:"parameter,omitempty"`
}

// parameter is one entry of a Parameters resource: a value[x], a resource, or parts. Value
// maps the one value[x] key ("valueString") to its JSON.
type parameter struct {
	Name     string
	Value    map[string]json.RawMessage
	Resource json.RawMessage
	Part     []parameter
}

// MarshalJSON writes the parameter with its value[x] key.
func (p parameter) MarshalJSON() ([]byte, error) {
	m := map[string]any{"name": p.Name}
	for k, v := range p.Value {
		m[k] = v
	}
	if p.Resource != nil {
		m["resource"] = p.Resource
	}
	if len(p.Part) > 0 {
		m["part"] = p.Part
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads a parameter, refusing more than one value[x].
func (p *parameter) UnmarshalJSON(data []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	for k, v := range m {
		switch {
		case k == "name":
			if err := json.Unmarshal(v, &p.Name); err != nil {
				return fmt.Errorf("parameter name: %w", err)
			}
		case k == "resource":
			p.Resource = v
		case k == "part":
			if err := json.Unmarshal(v, &p.Part); err != nil {
				return err
			}
		case strings.HasPrefix(k, "value"):
			if len(p.Value) > 0 {
				return fmt.Errorf("parameter %q has more than one value[x]", p.Name)
			}
			p.Value = map[string]json.RawMessage{k: v}
		}
	}
	return nil
}

// get returns the first parameter named name, or nil.
func (ps *parameters) get(name string) *parameter {
	for i := range ps.Parameter {
		if ps.Parameter[i].Name == name {
			return &ps.Parameter[i]
		}
	}
	return nil
}

// str returns the string value (valueString, valueCode, valueUri, ...) of the parameter named
// name; ok is false when it is absent or holds no string.
func (ps *parameters) str(name string) (s string, ok bool) {
	p := ps.get(name)
	if p == nil {
		return "", false
	}
	for _, v := range p.Value {
		if json.Unmarshal(v, &s) == nil {
			return s, true
		}
	}
	return "", false
}

// readParameters reads a Parameters body.
func readParameters(r *http.Request) (*parameters, error) {
	var ps parameters
	if err := json.NewDecoder(r.Body).Decode(&ps); err != nil {
		return nil, fault.New(fault.Invalid, "the body is not a FHIR Parameters resource: "+err.Error())
	}
	if ps.ResourceType != "Parameters" {
		return nil, fault.New(fault.Invalid, fmt.Sprintf("the body is a %q, not a Parameters resource", ps.ResourceType))
	}
	return &ps, nil
}

// writeFHIR answers with a FHIR resource as JSON.
func writeFHIR(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/fhir+json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeFHIROutcome answers with an OperationOutcome of one error issue.
func writeFHIROutcome(w http.ResponseWriter, status int, issueType, msg string) {
	writeFHIR(w, status, outcomeJSON("error", issueType, msg))
}

// restStatus is the HTTP status of each kind of failure (see errorClasses).
var restStatus = map[string]int{
	"BAD_USER_INPUT": http.StatusBadRequest, "NOT_FOUND": http.StatusNotFound, "GONE": http.StatusGone,
	"CONFLICT": http.StatusConflict, "TOO_MANY_RESULTS": http.StatusBadRequest, "NOT_SUPPORTED": http.StatusNotImplemented,
	"QUERY_TOO_COMPLEX": http.StatusBadRequest, "FORBIDDEN": http.StatusForbidden, "TIMEOUT": http.StatusServiceUnavailable,
}

// writeError answers with the OperationOutcome of err under the server's error policy: the
// caller gets the public detail of its kind, and the log keeps the rest.
func writeError(cfg Config, w http.ResponseWriter, r *http.Request, err error) {
	c, ok := classify(err)
	if !ok {
		cfg.Logger.ErrorContext(r.Context(), "fhir operation failed", "path", r.URL.Path, "error", err)
		writeFHIROutcome(w, http.StatusInternalServerError, "exception", "internal server error")
		return
	}
	status := restStatus[c.code]
	if status == 0 {
		status = http.StatusInternalServerError
	}
	writeFHIROutcome(w, status, c.issueType, c.clientMessage(err))
}
