package api

import (
	"context"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/fhirgate/fhirgate/audit"
	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/authz/guard"
	"github.com/fhirgate/fhirgate/metrics"
	"github.com/fhirgate/fhirgate/storage"
)

// AuditSink receives one event per request.
type AuditSink interface {
	Record(e audit.Event)
}

// maxAuditEntities bounds the resources one event lists; a request that touched more
// says so in the outcome description.
const maxAuditEntities = 1000

// trail gathers what one request did, for its AuditEvent: storage reports the resources
// it hands out or writes, gqlgen the operation and its errors.
type trail struct {
	mu        sync.Mutex
	p         *authz.Principal
	status    int    // set when the request was refused before GraphQL
	refusal   string // why
	operation ast.Operation
	roots     []string
	query     string
	codes     map[string]int // error codes returned, by count
	entities  []string
	seen      map[string]bool
	more      int
	// restAction and restInteraction name a FHIR REST interaction (see noteInteraction).
	restAction, restInteraction string
}

type trailKey struct{}

func trailFrom(ctx context.Context) *trail {
	t, _ := ctx.Value(trailKey{}).(*trail)
	return t
}

// Accessed implements storage.AccessLog.
func (t *trail) Accessed(typ, id string) {
	if t == nil {
		return
	}
	ref := typ + "/" + id
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.seen[ref]:
	case len(t.entities) >= maxAuditEntities:
		t.more++
	default:
		t.seen[ref] = true
		t.entities = append(t.entities, ref)
	}
}

func (t *trail) setPrincipal(p *authz.Principal) {
	if t != nil {
		t.mu.Lock()
		t.p = p
		t.mu.Unlock()
	}
}

func (t *trail) refused(status int, msg string) {
	if t != nil {
		t.mu.Lock()
		t.status, t.refusal = status, msg
		t.mu.Unlock()
	}
}

// auditing records an AuditEvent for every request to sink once it is answered, and counts
// the request in m by its operation and outcome.
func auditing(sink AuditSink, m *metrics.Metrics, next http.Handler) http.Handler {
	if sink == nil && m == nil {
		return next
	}
	// The handler keeps a small frame: a websocket connection's read loop runs below it for
	// the connection's life (see serveUpgrade).
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := &trail{seen: map[string]bool{}, codes: map[string]int{}}
		ctx := context.WithValue(r.Context(), trailKey{}, t)
		if sink != nil {
			ctx = storage.WithAccessLog(ctx, t)
		}
		start := time.Now()
		next.ServeHTTP(w, r.WithContext(ctx))
		t.record(sink, m, start, r)
	})
}

// record records the request r that began at start as an AuditEvent and in the metrics.
func (t *trail) record(sink AuditSink, m *metrics.Metrics, start time.Time, r *http.Request) {
	e := t.event(start, r)
	if sink != nil {
		sink.Record(e)
	}
	m.Request(e.Interaction, outcomeLabels[e.Outcome], time.Since(start))
}

// outcomeLabels names the AuditEvent outcomes in metrics.
var outcomeLabels = map[string]string{
	audit.Success:      "success",
	audit.MinorFailure: "minor_failure",
	audit.SeriousFail:  "serious_failure",
}

// observeOperation notes the operation being run in the request's trail.
func observeOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if t := trailFrom(ctx); t != nil {
		oc := graphql.GetOperationContext(ctx)
		t.mu.Lock()
		t.query = oc.RawQuery
		if op := oc.Operation; op != nil {
			t.operation = op.Operation
			for _, sel := range op.SelectionSet {
				if f, ok := sel.(*ast.Field); ok {
					t.roots = append(t.roots, f.Name)
				}
			}
		}
		t.mu.Unlock()
	}
	return next(ctx)
}

// observeResponse notes the error codes of each response in the request's trail.
func observeResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if t := trailFrom(ctx); t != nil && resp != nil {
		t.mu.Lock()
		for _, e := range resp.Errors {
			code, _ := e.Extensions["code"].(string)
			if code == "" {
				code = "INTERNAL"
			}
			t.codes[code]++
		}
		t.mu.Unlock()
	}
	return resp
}

func (t *trail) event(start time.Time, r *http.Request) audit.Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := audit.Event{Time: start, Entities: t.entities, Query: t.query, Outcome: audit.Success}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		e.Address = host
	}
	if p := t.p; p != nil && !p.Anonymous {
		e.Subject, e.Roles, e.Client, e.Patient = p.Subject, p.Roles, p.Client, p.Patient
	} else if p != nil {
		e.Subject, e.Roles = p.Subject, p.Roles
	}
	e.Action, e.Interaction = t.action()
	switch {
	case t.status != 0:
		e.Outcome, e.OutcomeDesc = audit.MinorFailure, t.refusal
	case t.codes["INTERNAL"] > 0:
		e.Outcome = audit.SeriousFail
	case len(t.codes) > 0:
		e.Outcome = audit.MinorFailure
	}
	if len(t.codes) > 0 {
		e.OutcomeDesc = "errors: " + strings.Join(slices.Sorted(maps.Keys(t.codes)), ", ")
	}
	if t.more > 0 {
		e.OutcomeDesc = strings.TrimSpace(e.OutcomeDesc + " (more resources than listed)")
	}
	return e
}

// action classifies the request: a mutation by its first root field, a query of single
// resources by id as a read, anything else as an execution (search, operation).
func (t *trail) action() (action, interaction string) {
	if t.restInteraction != "" {
		return t.restAction, t.restInteraction
	}
	if len(t.roots) == 0 {
		return audit.Execute, "graphql"
	}
	if t.operation == ast.Mutation {
		switch _, act, _ := guard.RootAction("Mutation", t.roots[0]); act {
		case authz.ActCreate:
			return audit.Create, "create"
		case authz.ActUpdate:
			return audit.Update, "update"
		case authz.ActDelete:
			return audit.Delete, "delete"
		}
		return audit.Execute, "operation"
	}
	for _, f := range t.roots {
		if _, act, _ := guard.RootAction("Query", f); act == authz.ActSearch || strings.HasPrefix(f, "_") {
			return audit.Execute, "search-type"
		}
	}
	return audit.Read, "read"
}
