// Package fhirsub delivers FHIR R4 Subscription resources: the rest-hook channel (a POST to
// channel.endpoint for each change the criteria select, with retries and exponential backoff,
// status error with Subscription.error after repeated failures, resumed after a restart from
// the last acknowledged change) and the activation of websocket-channel subscriptions, whose
// pings the api package sends to the clients bound to them.
//
// One process at a time delivers for a datastore: the holder of a lease kept in the database
// (a document per term, claimed by its unique key), so that each change is posted once across
// all the processes that serve it. Each subscription's cursor, the feed position of its last
// acknowledged notification, is kept in the database too: a new holder, or the same process
// after a restart, resumes from it.
package fhirsub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"strings"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/search"
)

// Subscription statuses (R4 SubscriptionStatus).
const (
	StatusRequested = "requested"
	StatusActive    = "active"
	StatusError     = "error"
	StatusOff       = "off"
)

// Channel types served.
const (
	RestHook  = "rest-hook"
	Websocket = "websocket"
)

// ErrInvalid marks a Subscription the server cannot serve as written.
var ErrInvalid = fault.New(fault.Invalid, "invalid Subscription")

// Endpoints are the URL prefixes rest-hook endpoints may start with: the server posts only
// there, so that it cannot be made to send requests anywhere else. None allows no rest-hook.
type Endpoints []string

// ParseEndpoints reads a comma-separated list of http(s) URL prefixes.
func ParseEndpoints(s string) (Endpoints, error) {
	var out Endpoints
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		u, err := url.Parse(p)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return nil, fmt.Errorf("endpoint prefix %q: want an http or https URL without credentials", p)
		}
		out = append(out, p)
	}
	return out, nil
}

// Allows reports whether endpoint starts with one of the prefixes, at a boundary: the prefix
// "https://hooks.example.com" allows "https://hooks.example.com/x" but not
// "https://hooks.example.com.evil.net".
func (e Endpoints) Allows(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return false
	}
	for _, p := range e {
		rest, ok := strings.CutPrefix(endpoint, p)
		if ok && (rest == "" || strings.HasSuffix(p, "/") || strings.ContainsRune("/?#", rune(rest[0]))) {
			return true
		}
	}
	return false
}

// Plan is what serving a Subscription needs from it.
type Plan struct {
	ID       string
	Status   string
	Type     string        // the resource type its criteria search
	Query    *search.Query // its criteria
	Channel  string
	Endpoint string
	Payload  string   // "" (notification only) or a FHIR JSON MIME type
	Headers  []string // "Name: value"
	// key tells two plans apart when what they deliver differs (status aside).
	key string
}

// NewPlan reads a Subscription. It fails with ErrInvalid when the server cannot serve it:
// criteria that do not parse, a channel type other than rest-hook and websocket, a rest-hook
// without an endpoint, a payload other than FHIR JSON, a malformed header.
func NewPlan(sub *model.Subscription) (*Plan, error) {
	p := &Plan{Status: str(sub.Status)}
	if sub.ID != nil {
		p.ID = string(*sub.ID)
	}
	if sub.Criteria == nil || *sub.Criteria == "" {
		return nil, fmt.Errorf("%w: criteria are required", ErrInvalid)
	}
	typ, q, err := search.ParseCriteria(*sub.Criteria)
	if err != nil {
		return nil, fmt.Errorf("%w: criteria: %w", ErrInvalid, err)
	}
	p.Type, p.Query = typ, q
	if q.Count != nil || q.Offset != 0 || len(q.Sort) > 0 || q.Total != "" || q.Cursor != "" {
		return nil, fmt.Errorf("%w: criteria select changes; _count, _offset, _sort and _total do not apply", ErrInvalid)
	}
	ch := sub.Channel
	if ch == nil || ch.Type == nil {
		return nil, fmt.Errorf("%w: channel.type is required", ErrInvalid)
	}
	p.Channel = string(*ch.Type)
	switch p.Channel {
	case RestHook:
		if ch.Endpoint == nil || *ch.Endpoint == "" {
			return nil, fmt.Errorf("%w: a rest-hook channel needs channel.endpoint", ErrInvalid)
		}
		p.Endpoint = string(*ch.Endpoint)
	case Websocket:
	default:
		return nil, fmt.Errorf("%w: channel type %q is not supported here (rest-hook and websocket are)", ErrInvalid, p.Channel)
	}
	if ch.Payload != nil && *ch.Payload != "" {
		mt, _, err := mime.ParseMediaType(string(*ch.Payload))
		if err != nil || (mt != "application/fhir+json" && mt != "application/json") {
			return nil, fmt.Errorf("%w: channel.payload %q: only application/fhir+json is supported", ErrInvalid, clip(string(*ch.Payload)))
		}
		p.Payload = string(*ch.Payload)
	}
	for _, h := range ch.Header {
		if h == nil {
			continue
		}
		name, _, ok := strings.Cut(*h, ":")
		if !ok || strings.TrimSpace(name) == "" || strings.ContainsAny(*h, "\r\n") {
			return nil, fmt.Errorf("%w: channel.header %q is not \"Name: value\"", ErrInvalid, clip(*h))
		}
		p.Headers = append(p.Headers, *h)
	}
	key, _ := json.Marshal([]any{*sub.Criteria, p.Channel, p.Endpoint, p.Payload, p.Headers})
	p.key = string(key)
	return p, nil
}

// Check reports why the server cannot serve plan p with endpoints allowed, nil when it can.
func (p *Plan) Check(allowed Endpoints) error {
	if p.Channel == RestHook && !allowed.Allows(p.Endpoint) {
		return fmt.Errorf("%w: channel.endpoint is not among the endpoints this server may post to (its --subscription-endpoints)", ErrInvalid)
	}
	return nil
}

func str(c *model.Code) string {
	if c == nil {
		return ""
	}
	return string(*c)
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// Owner is the principal a Subscription acts for: the caller who last wrote it. Its
// notifications carry what that caller may read, no more.
type Owner struct {
	Subject string        `json:"sub"`
	Roles   []string      `json:"roles"`
	Patient string        `json:"patient,omitempty"`
	Client  string        `json:"client,omitempty"`
	Scopes  []authz.Scope `json:"scopes,omitempty"`
	Scoped  bool          `json:"scoped,omitempty"` // Scopes applies, even when empty
}

// OwnerOf returns the owner record of p.
func OwnerOf(p *authz.Principal) Owner {
	return Owner{Subject: p.Subject, Roles: p.Roles, Patient: p.Patient, Client: p.Client, Scopes: p.Scopes, Scoped: p.Scopes != nil}
}

// Principal returns the principal the owner record describes.
func (o Owner) Principal() *authz.Principal {
	p := &authz.Principal{Subject: o.Subject, Roles: o.Roles, Patient: o.Patient, Client: o.Client}
	if o.Scoped {
		p.Scopes = append([]authz.Scope{}, o.Scopes...)
	}
	return p
}

// States keeps the small records of subscriptions beside the resources; *storage.Store is one.
type States interface {
	State(ctx context.Context, key string) (string, bool, error)
	PutState(ctx context.Context, key, value string) error
	ClaimState(ctx context.Context, key, value string) (bool, error)
	DeleteState(ctx context.Context, key string) error
}

func ownerKey(id string) string  { return "subscription/" + id + "/owner" }
func cursorKey(id string) string { return "subscription/" + id + "/cursor" }

// SaveOwner records the owner of Subscription id.
func SaveOwner(ctx context.Context, st States, id string, o Owner) error {
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	return st.PutState(ctx, ownerKey(id), string(b))
}

// errNoOwner marks a Subscription written without the API (an import): nobody to act for.
var errNoOwner = errors.New("the Subscription has no recorded owner: write it again through the API")

func loadOwner(ctx context.Context, st States, id string) (Owner, error) {
	v, ok, err := st.State(ctx, ownerKey(id))
	if err != nil {
		return Owner{}, err
	}
	if !ok {
		return Owner{}, errNoOwner
	}
	var o Owner
	if err := json.Unmarshal([]byte(v), &o); err != nil {
		return Owner{}, fmt.Errorf("owner of Subscription/%s: %w", id, err)
	}
	return o, nil
}
