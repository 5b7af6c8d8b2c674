package resolvers

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/graph"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/notify"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
)

// Changes starts subscriptions to the datastore's committed changes; *notify.Hub is one.
type Changes interface {
	SubscribeFunc(ctx context.Context, req notify.Request, deliver notify.Deliver, end func(error)) (*notify.Subscription, error)
}

var _ Changes = (*notify.Hub)(nil)

// errNoChanges answers subscriptions on a server that has no change feed to serve them.
var errNoChanges = fault.New(fault.Unsupported, "subscriptions are not served here")

// SubscriptionRoot returns the subscription root resolver.
func (r *Resolver) SubscriptionRoot() graph.SubscriptionRootResolver {
	return &subscriptionRootResolver{r}
}

type subscriptionRootResolver struct{ Resolver *Resolver }

// Changed streams the changes to resources of typ that the criteria select, replaying those
// after since first. The guard has checked that the caller may subscribe to typ; the search
// is checked here like any search, and storage's scope in ctx confines every event.
func (r *subscriptionRootResolver) Changed(ctx context.Context, typ graph.ResourceType, where *search.Value, criteria *string, operations []graph.ChangeOperation, since *string) (<-chan *graph.ResourceChange, error) {
	if r.Resolver.Changes == nil {
		return nil, errNoChanges
	}
	req := notify.Request{Type: string(typ)}
	q, err := r.Resolver.changeCriteria(ctx, req.Type, where, criteria)
	if err != nil {
		return nil, err
	}
	req.Query = q
	for _, op := range operations {
		req.Ops = append(req.Ops, notify.Op(op))
	}
	if since != nil {
		t, err := notify.ParseToken(*since)
		if err != nil {
			return nil, err
		}
		req.Since = &t
	}
	if p := authz.PrincipalFrom(ctx); p != nil {
		req.Until = p.Expires
	}
	// The Hub pushes events into out from a goroutine of its own that runs only while events
	// wait: an idle subscription holds none. With a relay in ctx, events go to the transport
	// first, which passes to out those it does not answer otherwise.
	out := make(chan *graph.ResourceChange, 1)
	events := chan<- *graph.ResourceChange(out)
	relay := relayFrom(ctx)
	if relay != nil {
		events = relay.Events
	}
	deliver := func(ev *notify.Event) bool {
		change, err := resourceChange(ev)
		if err != nil {
			endStream(ctx, err)
			return false
		}
		storage.LogAccess(ctx, ev.Record)
		select {
		case events <- change:
			return true
		case <-ctx.Done():
			return false
		}
	}
	end := func(err error) {
		if ctx.Err() == nil && !errors.Is(err, notify.ErrClosed) {
			endStream(ctx, err)
		}
		// The relay closes out when it sees the end: it may still pass an event to out.
		close(events)
	}
	if _, err := r.Resolver.Changes.SubscribeFunc(ctx, req, deliver, end); err != nil {
		return nil, err
	}
	if relay != nil {
		// Only now: the relay reads events once the resolver returns, and none of a
		// subscription refused.
		relay.Out = out
	}
	return out, nil
}

// changeCriteria parses a subscription's criteria, given as where (XList's arguments as an
// object) or as a FHIR search string (not both), and has the Guard check them like a search.
// Without either, the whole type is searched: the Guard still checks that.
func (r *Resolver) changeCriteria(ctx context.Context, typ string, where *search.Value, criteria *string) (*search.Query, error) {
	args := map[string]any{}
	switch {
	case where != nil && criteria != nil:
		return nil, fmt.Errorf("%w: give where or criteria, not both", search.ErrInvalid)
	case where != nil && where.V != nil:
		m, ok := where.V.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: where takes the search arguments of %sList as an object", search.ErrInvalid, typ)
		}
		args = m
	case criteria != nil:
		q, err := parseCriteria(typ, *criteria)
		if err != nil {
			return nil, err
		}
		if r.Guard != nil {
			if err := r.Guard.CheckSearch(ctx, q); err != nil {
				return nil, err
			}
		}
		return q, nil
	}
	return r.parse(ctx, typ, args)
}

// parseCriteria parses a FHIR search string over typ: "code=...&subject=...", or with the
// type in front as FHIR Subscription.criteria writes it, "Observation?code=...".
func parseCriteria(typ, s string) (*search.Query, error) {
	if t, rest, ok := strings.Cut(s, "?"); ok {
		if t != typ {
			return nil, fmt.Errorf("%w: criteria %q do not search %s", search.ErrInvalid, clipText(s), typ)
		}
		s = rest
	}
	vals, err := url.ParseQuery(s)
	if err != nil {
		return nil, fmt.Errorf("%w: criteria are not a valid query string", search.ErrInvalid)
	}
	return search.ParseURL(typ, vals)
}

func clipText(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// resourceChange is ev as the schema shows it.
func resourceChange(ev *notify.Event) (*graph.ResourceChange, error) {
	res, err := ev.Resource()
	if err != nil {
		return nil, err
	}
	return &graph.ResourceChange{
		Operation:   graph.ChangeOperation(ev.Op),
		Leaving:     ev.Leaving,
		Token:       ev.Token.String(),
		Type:        graph.ResourceType(ev.Type),
		ID:          ev.ID,
		VersionID:   strconv.FormatInt(ev.Version, 10),
		LastUpdated: model.Instant(ev.Time.UTC().Format(instantLayout)),
		Resource:    res,
	}, nil
}

// instantLayout is how meta.lastUpdated is written (see model's stampMeta).
const instantLayout = "2006-01-02T15:04:05.000Z07:00"

type streamEndKey struct{}

// WithStreamEnd returns ctx in which a subscription resolver reports, through end, why its
// stream ended before the subscriber left (an overflow, expired credentials, a failure):
// the transport then tells the subscriber after the last event.
func WithStreamEnd(ctx context.Context, end func(error)) context.Context {
	return context.WithValue(ctx, streamEndKey{}, end)
}

func endStream(ctx context.Context, err error) {
	if end, ok := ctx.Value(streamEndKey{}).(func(error)); ok {
		end(err)
	}
}

// Relay lets a transport see each event of a subscription before GraphQL executes it, so that
// it can answer an event with the response of an identical execution (the same operation,
// variables and policy view) made for another subscriber.
type Relay struct {
	// Events receives each event of the subscription, in order, and is closed after the
	// last. The resolver waits until the transport takes each.
	Events chan *graph.ResourceChange
	// Out is the stream GraphQL executes, set by the resolver when the subscription starts
	// (nil when it was refused): the transport sends it the events it does not answer
	// itself, and closes it when Events is closed. It holds one event.
	Out chan<- *graph.ResourceChange
}

type relayKey struct{}

// WithRelay returns ctx in which the subscription resolver hands its events to r.
func WithRelay(ctx context.Context, r *Relay) context.Context {
	return context.WithValue(ctx, relayKey{}, r)
}

func relayFrom(ctx context.Context) *Relay {
	r, _ := ctx.Value(relayKey{}).(*Relay)
	return r
}
