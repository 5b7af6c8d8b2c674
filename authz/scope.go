package authz

import (
	"fmt"
	"strings"

	"github.com/fhirgate/fhirgate/model"
)

// Actions is a set of SMART v2 interactions: c r u d s.
type Actions uint8

// The SMART v2 interactions.
const (
	Create Actions = 1 << iota
	Read
	Update
	Delete
	Search
)

// Scope is one SMART resource scope, v1 ("patient/Observation.read") or v2
// ("patient/Observation.rs").
type Scope struct {
	// Context is "patient", "user" or "system".
	Context string
	// Type is a resource type or "*".
	Type string
	// Actions are the interactions granted.
	Actions Actions
}

// scopeLetter maps a policy action onto the SMART interactions it needs.
func scopeLetter(act string) Actions {
	switch act {
	case ActCreate:
		return Create
	case ActUpdate:
		return Update
	case ActDelete:
		return Delete
	case ActSearch:
		return Search
	case ActAnalyze: // enrichment reads a note and writes what it finds
		return Read | Create | Update
	case ActSubscribe:
		return Read | Search
	case ActManage: // administration changes what the deployment holds
		return Create | Update | Delete
	default:
		return Read
	}
}

// ParseScopes parses a space-separated scope claim. Scopes that are not about resources
// (openid, fhirUser, launch/patient, offline_access, ...) are ignored; a resource scope
// that does not parse is an error, and so are SMART v2 granular scopes ("?category=..."),
// which fhirgate does not enforce and so must not accept.
func ParseScopes(claim string) ([]Scope, error) {
	out := []Scope{}
	for _, s := range strings.Fields(claim) {
		ctx, rest, ok := strings.Cut(s, "/")
		if !ok || ctx == "launch" {
			continue
		}
		if ctx != "patient" && ctx != "user" && ctx != "system" {
			return nil, fmt.Errorf("scope %q: unknown context %q", s, ctx)
		}
		if strings.Contains(rest, "?") {
			return nil, fmt.Errorf("scope %q: granular scopes are not supported", s)
		}
		typ, perm, ok := strings.Cut(rest, ".")
		if !ok {
			return nil, fmt.Errorf("scope %q: want <context>/<type>.<permissions>", s)
		}
		if typ != "*" && !model.IsResourceType(typ) {
			return nil, fmt.Errorf("scope %q: unknown resource type %q", s, typ)
		}
		acts, err := parsePermissions(perm)
		if err != nil {
			return nil, fmt.Errorf("scope %q: %w", s, err)
		}
		out = append(out, Scope{Context: ctx, Type: typ, Actions: acts})
	}
	return out, nil
}

func parsePermissions(perm string) (Actions, error) {
	switch perm { // SMART v1
	case "read":
		return Read | Search, nil
	case "write":
		return Create | Update | Delete, nil
	case "*":
		return Create | Read | Update | Delete | Search, nil
	}
	// SMART v2: a non-empty subsequence of "cruds", in that order.
	var acts Actions
	next := 0
	for _, r := range perm {
		i := strings.IndexRune("cruds"[next:], r)
		if i < 0 {
			return 0, fmt.Errorf("permissions %q: want read, write, * or letters of cruds in order", perm)
		}
		next += i + 1
		acts |= 1 << (next - 1)
	}
	if acts == 0 {
		return 0, fmt.Errorf("no permissions")
	}
	return acts, nil
}
