// Package authz decides who may see and change what. It authenticates bearer JWTs into
// principals (subject, roles, SMART scopes, patient context), holds the Casbin policy keyed
// on GraphQL schema coordinates, and confines principals bound to a patient to that
// patient's compartment in storage.
package authz

import (
	"context"
	"slices"
	"time"
)

// Actions on a resource type, as the policy and SMART scopes name them. Reads of single
// values are keyed by schema coordinate ("Patient.name") with ActRead.
const (
	ActRead      = "read"
	ActSearch    = "search"
	ActCreate    = "create"
	ActUpdate    = "update"
	ActDelete    = "delete"
	ActAnalyze   = "analyze"
	ActSubscribe = "subscribe"
	// ActManage administers the deployment: datastores, bulk import jobs.
	ActManage = "manage"
)

// ObjDatastore is the policy object of datastore administration (with ActManage).
const ObjDatastore = "Datastore"

// The default roles.
const (
	RoleAdmin     = "admin"
	RoleClinician = "clinician"
	RoleAnalyst   = "analyst"
	RolePartner   = "partner"
	RolePatient   = "patient"
)

// Principal is the authenticated caller of one request.
type Principal struct {
	// Subject is the token's sub claim.
	Subject string
	// Roles are the policy roles the token grants.
	Roles []string
	// Scopes are the SMART scopes the token carries; nil when it carries no scope claim,
	// in which case the roles alone decide.
	Scopes []Scope
	// Patient is the id of the patient the principal is bound to (SMART launch context);
	// when set, storage shows only that patient's compartment.
	Patient string
	// Client is the OAuth client the token was issued to, when it says.
	Client string
	// Anonymous marks the principal of a server running with authentication off.
	Anonymous bool
	// Expires is when the token stops being valid; zero when it does not say. Connections
	// that outlive a request (subscriptions) end then.
	Expires time.Time
	// Datastores are the datastores the token may be used with; nil means any.
	Datastores []string
}

// DatastoreAllowed reports whether p may use the datastore name.
func (p *Principal) DatastoreAllowed(name string) bool {
	return p.Datastores == nil || slices.Contains(p.Datastores, name)
}

// HasRole reports whether p holds role.
func (p *Principal) HasRole(role string) bool { return slices.Contains(p.Roles, role) }

// ScopeAllows reports whether p's SMART scopes permit act on resources of typ.
// A principal without scopes is not limited by them.
func (p *Principal) ScopeAllows(typ, act string) bool {
	if p.Scopes == nil {
		return true
	}
	need := scopeLetter(act)
	for _, s := range p.Scopes {
		if (s.Type == "*" || s.Type == typ) && s.Actions&need == need {
			return true
		}
	}
	return false
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal in ctx, or nil.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
