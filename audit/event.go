// Package audit records who did what as FHIR AuditEvents, modelled on the IHE Basic Audit
// Log Patterns (BALP), and writes them to the datastore through a bounded buffer.
package audit

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/fhirgate/fhirgate/model"
)

// Outcomes, as FHIR's AuditEventOutcome codes.
const (
	Success      = "0"
	MinorFailure = "4" // the request was refused or failed in part: denied fields, bad input
	SeriousFail  = "8" // the request failed: an internal error
)

// Actions, as FHIR's AuditEventAction codes.
const (
	Create  = "C"
	Read    = "R"
	Update  = "U"
	Delete  = "D"
	Execute = "E" // a search or any other operation
)

// Event is one audited request.
type Event struct {
	Time time.Time
	// Subject, Roles, Client and Patient describe the principal; Subject is empty when the
	// request was refused before it was authenticated.
	Subject string
	Roles   []string
	Client  string
	Patient string
	// Address is the client's network address.
	Address string
	// Action is one of Create, Read, Update, Delete and Execute; Interaction names the FHIR
	// interaction or operation ("read", "search-type", "create", "graphql", ...).
	Action, Interaction string
	// Outcome is Success, MinorFailure or SeriousFail, and OutcomeDesc says why not success.
	Outcome, OutcomeDesc string
	// Entities are the resources the request read or wrote, as "Type/id".
	Entities []string
	// Query is the GraphQL document, kept in the event (as BALP keeps the query) for admins.
	Query string
}

const (
	dcm          = "http://dicom.nema.org/resources/ontology/DCM"
	interactions = "http://hl7.org/fhir/restful-interaction"
	roleType     = "http://terminology.hl7.org/CodeSystem/object-role"
	sourceType   = "http://terminology.hl7.org/CodeSystem/security-source-type"
	netType      = "2" // IP address
)

// Resource returns the event as an AuditEvent resource with a new random id.
func (e *Event) Resource() (model.Resource, string, error) {
	id := rand.Text()
	agent := map[string]any{
		"type":      map[string]any{"coding": []any{map[string]any{"system": dcm, "code": "110153", "display": "Source Role ID"}}},
		"requestor": true,
	}
	if e.Subject != "" {
		agent["who"] = map[string]any{"identifier": map[string]any{"value": e.Subject}}
		if e.Client != "" {
			agent["altId"] = e.Client
		}
	} else {
		agent["who"] = map[string]any{"display": "unauthenticated"}
	}
	if len(e.Roles) > 0 {
		var roles []any
		for _, r := range e.Roles {
			roles = append(roles, map[string]any{"text": r})
		}
		agent["role"] = roles
	}
	if e.Address != "" {
		agent["network"] = map[string]any{"address": e.Address, "type": netType}
	}
	ev := map[string]any{
		"resourceType": "AuditEvent",
		"id":           id,
		"type":         map[string]any{"system": dcm, "code": "110112", "display": "Query"},
		"subtype":      []any{map[string]any{"system": interactions, "code": e.Interaction}},
		"action":       e.Action,
		"recorded":     e.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		"outcome":      e.Outcome,
		"agent":        []any{agent},
		"source": map[string]any{
			"observer": map[string]any{"display": "fhirgate"},
			"type":     []any{map[string]any{"system": sourceType, "code": "4", "display": "Application Server"}},
		},
	}
	if e.Action != Execute && e.Action != Read {
		ev["type"] = map[string]any{"system": interactions, "code": "rest", "display": "Restful Operation"}
	}
	if e.OutcomeDesc != "" {
		ev["outcomeDesc"] = e.OutcomeDesc
	}
	var entities []any
	if e.Patient != "" {
		entities = append(entities, map[string]any{
			"what": map[string]any{"reference": "Patient/" + e.Patient},
			"role": map[string]any{"system": roleType, "code": "1", "display": "Patient"},
		})
	}
	for _, ref := range e.Entities {
		entities = append(entities, map[string]any{
			"what": map[string]any{"reference": ref},
			"role": map[string]any{"system": roleType, "code": "4", "display": "Domain Resource"},
		})
	}
	if e.Query != "" {
		entities = append(entities, map[string]any{
			"type":  map[string]any{"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object"},
			"role":  map[string]any{"system": roleType, "code": "24", "display": "Query"},
			"query": base64.StdEncoding.EncodeToString([]byte(e.Query)),
		})
	}
	if len(entities) > 0 {
		ev["entity"] = entities
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, "", fmt.Errorf("audit event: %w", err)
	}
	res, err := model.Unmarshal(b)
	if err != nil {
		return nil, "", fmt.Errorf("audit event: %w", err)
	}
	return res, id, nil
}
