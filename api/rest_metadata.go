package api

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/fhirgate/fhirgate/audit"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/operation"
	"github.com/fhirgate/fhirgate/sqlquery"
)

// restInteraction is one FHIR REST interaction the server routes: the one table both the
// mux and the CapabilityStatement are built from, so /fhir/metadata says what is served.
type restInteraction struct {
	pattern string // method and path below the server root, as http.ServeMux reads it
	code    string // the CapabilityStatement's interaction code
	level   string // "type" (one per resource type, {type} in the pattern) or "system"
	action  string // the AuditEvent action
	handler func(a *restAPI) func(*restCall) error
}

// restInteractions are the interactions served under /fhir.
var restInteractions = []restInteraction{
	{"GET /fhir/{type}/{id}", "read", "type", audit.Read, func(a *restAPI) func(*restCall) error { return a.read }},
	{"GET /fhir/{type}/{id}/_history/{vid}", "vread", "type", audit.Read, func(a *restAPI) func(*restCall) error { return a.vread }},
	{"PUT /fhir/{type}/{id}", "update", "type", audit.Update, func(a *restAPI) func(*restCall) error { return a.update }},
	{"PUT /fhir/{type}", "update", "type", audit.Update, func(a *restAPI) func(*restCall) error { return a.conditionalUpdate }},
	{"PATCH /fhir/{type}/{id}", "patch", "type", audit.Update, func(a *restAPI) func(*restCall) error { return a.patch }},
	{"PATCH /fhir/{type}", "patch", "type", audit.Update, func(a *restAPI) func(*restCall) error { return a.conditionalPatch }},
	{"DELETE /fhir/{type}/{id}", "delete", "type", audit.Delete, func(a *restAPI) func(*restCall) error { return a.remove }},
	{"DELETE /fhir/{type}", "delete", "type", audit.Delete, func(a *restAPI) func(*restCall) error { return a.conditionalDelete }},
	{"POST /fhir/{type}", "create", "type", audit.Create, func(a *restAPI) func(*restCall) error { return a.create }},
	{"GET /fhir/{type}", "search-type", "type", audit.Execute, func(a *restAPI) func(*restCall) error { return a.search }},
	{"POST /fhir/{type}/_search", "search-type", "type", audit.Execute, func(a *restAPI) func(*restCall) error { return a.searchPost }},
	{"GET /fhir/{type}/{id}/_history", "history-instance", "type", audit.Read, func(a *restAPI) func(*restCall) error { return a.instanceHistory }},
	{"GET /fhir/{type}/_history", "history-type", "type", audit.Execute, func(a *restAPI) func(*restCall) error { return a.typeHistory }},
	{"GET /fhir/_history", "history-system", "system", audit.Execute, func(a *restAPI) func(*restCall) error { return a.systemHistory }},
}

// routes registers restInteractions on mux.
func (a *restAPI) routes(mux *http.ServeMux) {
	for _, ri := range restInteractions {
		mux.HandleFunc(ri.pattern, a.handle(ri.action, ri.code, ri.handler(a)))
	}
}

// metadata serves GET /fhir/metadata: the CapabilityStatement of what is served, for
// everyone (clients read it before they authenticate).
func (a *restAPI) metadata(w http.ResponseWriter, r *http.Request) {
	c := &restCall{api: a, w: w, r: r, ctx: r.Context()}
	if err := c.negotiate(); err != nil {
		c.fail(err)
		return
	}
	c.writeJSON(http.StatusOK, a.capabilityStatement(c.base()))
}

// capabilityStatement builds the CapabilityStatement from restInteractions, the search
// parameter table and package operation.
func (a *restAPI) capabilityStatement(base string) map[string]any {
	typeOps := map[string][]any{}
	var systemOps []any
	for _, path := range operation.Paths() {
		typ, _ := operation.Field(path)
		name := path[strings.Index(path, "$")+1:]
		op := map[string]any{"name": name, "definition": "http://hl7.org/fhir/OperationDefinition/" + strings.NewReplacer("/$", "-", "$", "").Replace(path)}
		if typ == "" {
			systemOps = append(systemOps, op)
		} else {
			typeOps[typ] = append(typeOps[typ], op)
		}
	}
	// SQL on FHIR's operations, at system level.
	const sof = "http://sql-on-fhir.org/OperationDefinition/$"
	systemOps = append(systemOps, map[string]any{"name": "viewdefinition-run", "definition": sof + "viewdefinition-run"})
	if sqlquery.Available() {
		systemOps = append(systemOps, map[string]any{"name": "sqlquery-run", "definition": sof + "sqlquery-run"})
	}
	var typeCodes, systemCodes []string
	for _, ri := range restInteractions {
		list := &typeCodes
		if ri.level == "system" {
			list = &systemCodes
		}
		if !slices.Contains(*list, ri.code) {
			*list = append(*list, ri.code)
		}
	}
	// Batches and transactions at the base (rest_bundle.go), and $import when it is configured
	// (rest_import.go).
	systemCodes = append(systemCodes, "batch", "transaction")
	if a.cfg.ImportDir != "" && a.cfg.importStore != nil {
		systemOps = append(systemOps, map[string]any{"name": "import", "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/import"})
	}
	var resources []any
	for _, t := range model.ResourceTypes() {
		var inter []any
		for _, code := range typeCodes {
			inter = append(inter, map[string]any{"code": code})
		}
		var params []any
		var includes []string
		for _, p := range model.SearchParams(t) {
			params = append(params, map[string]any{"name": p.Code, "type": p.Type})
			if p.Type == "reference" {
				includes = append(includes, t+":"+p.Code)
			}
		}
		var revIncludes []string
		for _, src := range model.ResourceTypes() {
			for _, p := range model.SearchParams(src) {
				if p.Type == "reference" && slices.Contains(p.Targets, t) {
					revIncludes = append(revIncludes, src+":"+p.Code)
				}
			}
		}
		ops := append([]any{map[string]any{"name": "validate", "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate"}}, typeOps[t]...)
		entry := map[string]any{
			"type":              t,
			"profile":           "http://hl7.org/fhir/StructureDefinition/" + t,
			"interaction":       inter,
			"versioning":        "versioned-update",
			"readHistory":       true,
			"updateCreate":      true,
			"conditionalCreate": true,
			"conditionalRead":   "full-support",
			"conditionalUpdate": true,
			"conditionalDelete": "single",
			"searchInclude":     includes,
			"searchRevInclude":  revIncludes,
			"searchParam":       params,
			"operation":         ops,
		}
		if t == "Subscription" {
			a.describeChannels(entry)
		}
		resources = append(resources, entry)
	}
	var sysInter []any
	for _, code := range systemCodes {
		sysInter = append(sysInter, map[string]any{"code": code})
	}
	security := map[string]any{
		"cors": false,
		"service": []any{map[string]any{"coding": []any{map[string]any{
			"system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "SMART-on-FHIR",
		}}}},
		"description": "Bearer tokens (JWT) carrying roles and SMART scopes; see .well-known/smart-configuration.",
	}
	return map[string]any{
		"resourceType":   "CapabilityStatement",
		"status":         "active",
		"date":           capabilityDate,
		"kind":           "instance",
		"software":       map[string]any{"name": "fhirgate"},
		"implementation": map[string]any{"description": "fhirgate FHIR REST API", "url": base},
		"fhirVersion":    "4.0.1",
		"format":         []string{"json", mimeFHIRJSON},
		"patchFormat":    []string{mimeJSONPatch, mimeFHIRJSON},
		"rest": []any{map[string]any{
			// R4's websocket binding of Subscriptions: where clients bind.
			"extension":   []any{map[string]any{"url": extWebsocket, "valueUri": websocketURL(base)}},
			"mode":        "server",
			"security":    security,
			"resource":    resources,
			"interaction": sysInter,
			"operation":   systemOps,
		}},
	}
}

// The extensions by which the CapabilityStatement describes Subscriptions: R4's websocket
// URL, and the channel types served (R4 has no element for them; the codes are R4's).
const (
	extWebsocket      = "http://hl7.org/fhir/StructureDefinition/capabilitystatement-websocket"
	extChannelType    = "https://fhirgate.dev/fhir/StructureDefinition/subscription-channel-type"
	channelTypeSystem = "http://terminology.hl7.org/CodeSystem/subscription-channel-type"
)

// websocketURL is the URL of the FHIR websocket channel below base, the FHIR base URL.
func websocketURL(base string) string {
	switch {
	case strings.HasPrefix(base, "https://"):
		base = "wss://" + strings.TrimPrefix(base, "https://")
	case strings.HasPrefix(base, "http://"):
		base = "ws://" + strings.TrimPrefix(base, "http://")
	}
	return base + "/websocket"
}

// describeChannels adds to the Subscription entry of the CapabilityStatement the channel
// types the server delivers: websocket always, rest-hook when endpoints are allowed (without
// any, every rest-hook Subscription is refused with status error).
func (a *restAPI) describeChannels(entry map[string]any) {
	types := []string{"websocket"}
	doc := "Channels: websocket (R4 binding at the URL of the capabilitystatement-websocket extension: send `bind <id>`, receive `ping <id>` per change)."
	if len(a.cfg.Subscriptions.Endpoints) > 0 {
		types = append([]string{"rest-hook"}, types...)
		doc += " rest-hook, to endpoints under the server's allowed URL prefixes, with payload empty or application/fhir+json; retried with backoff, status error after repeated failures."
	} else {
		doc += " rest-hook is not served: no endpoint is allowed (--subscription-endpoints)."
	}
	var ext []any
	for _, t := range types {
		ext = append(ext, map[string]any{"url": extChannelType, "valueCoding": map[string]any{"system": channelTypeSystem, "code": t}})
	}
	entry["extension"] = ext
	entry["documentation"] = doc + " A Subscription is read and written only by its creator and by admins."
}

// capabilityDate is when this server started: its CapabilityStatement is of this build.
var capabilityDate = time.Now().UTC().Format("2006-01-02T15:04:05Z07:00")

// smartConfiguration serves GET /fhir/.well-known/smart-configuration (SMART App Launch
// 2.0), for everyone, from the server's authentication settings: the token issuer, its keys
// and authorization endpoints when configured, and the scopes the server enforces.
func (a *restAPI) smartConfiguration(w http.ResponseWriter, r *http.Request) {
	c := &restCall{api: a, w: w, r: r, ctx: r.Context(), contentType: mimeJSON}
	if a.cfg.Auth.Off {
		c.fail(newRESTErr(http.StatusNotFound, "not-supported", "Authentication is off on this server: it has no SMART configuration."))
		return
	}
	s := a.cfg.Auth.SMART
	doc := map[string]any{
		"capabilities":                          []string{"permission-v1", "permission-v2", "permission-patient", "permission-user"},
		"scopes_supported":                      []string{"patient/*.read", "patient/*.rs", "user/*.read", "user/*.cruds", "system/*.read", "system/*.cruds", "openid", "fhirUser", "launch/patient"},
		"response_types_supported":              []string{"code"},
		"grant_types_supported":                 []string{"authorization_code", "client_credentials"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"private_key_jwt", "client_secret_basic"},
	}
	if s.Issuer != "" {
		doc["issuer"] = s.Issuer
	}
	if s.JWKSURL != "" {
		doc["jwks_uri"] = s.JWKSURL
	}
	if s.AuthorizationEndpoint != "" {
		doc["authorization_endpoint"] = s.AuthorizationEndpoint
		doc["capabilities"] = append(doc["capabilities"].([]string), "launch-standalone", "context-standalone-patient", "client-public", "client-confidential-symmetric")
	}
	if s.TokenEndpoint != "" {
		doc["token_endpoint"] = s.TokenEndpoint
	}
	c.writeJSON(http.StatusOK, doc)
}
