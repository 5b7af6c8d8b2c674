package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/authz/guard"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/operation"
)

// validateRoute serves POST /fhir/{type}/$validate: the body is a Parameters resource with
// resource and optional profile parameters, or the resource itself; ?profile= adds a profile.
// It answers 200 with the OperationOutcome of the validation, whatever it found. Validating
// a resource of a type needs read permission on the type.
func validateRoute(cfg Config, mux *http.ServeMux) {
	mux.HandleFunc("POST /fhir/{type}/$validate", func(w http.ResponseWriter, r *http.Request) {
		typ := r.PathValue("type")
		if !model.IsResourceType(typ) {
			writeFHIROutcome(w, http.StatusNotFound, "not-supported", "Unknown resource type "+fmt.Sprintf("%q", typ)+".")
			return
		}
		out, err := runValidate(r, typ)
		if err != nil {
			writeError(cfg, w, r, err)
			return
		}
		writeFHIR(w, http.StatusOK, out)
	})
}

func runValidate(r *http.Request, typ string) (any, error) {
	if err := guard.CheckType(r.Context(), typ, authz.ActRead); err != nil {
		return nil, err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: reading the body: %s", operation.ErrInvalid, err)
	}
	var head struct {
		ResourceType string `json:"resourceType"`
	}
	if err := json.Unmarshal(body, &head); err != nil {
		return nil, fmt.Errorf("%w: the body is not a FHIR resource in JSON", operation.ErrInvalid)
	}
	var ps *operation.Parameters
	if head.ResourceType == "Parameters" && typ != "Parameters" {
		if ps, err = operation.Read(bytes.NewReader(body)); err != nil {
			return nil, err
		}
	} else {
		ps = operation.NewParameters()
		ps.Parameter = append(ps.Parameter, operation.Parameter{Name: "resource", Resource: body})
	}
	for _, p := range r.URL.Query()["profile"] {
		ps.Add("profile", "valueCanonical", p)
	}
	return operation.Validate(r.Context(), typ, ps)
}
