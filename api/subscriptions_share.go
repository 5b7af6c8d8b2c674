package api

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/graph"
	"github.com/fhirgate/fhirgate/resolvers"
	"github.com/fhirgate/fhirgate/storage"
)

// Subscribers that sent the same operation with the same variables, under the same
// credentials, receive the same bytes for each event: GraphQL executes the event once for
// them all (the first to take it) and the others send that answer. A thousand partner
// connections watching one type then cost one execution per change rather than a thousand.
//
// The group is keyed on everything an answer depends on besides the event: the operation's
// text, name and variables, the policy's generation (a reload starts new groups), and the
// principal's roles, scopes, patient compartment, datastores and subject (Subscription
// resources show their channel's headers to their creator only). Two principals that differ
// in any of these never share an answer.

// maxSharedAnswers bounds the answers kept for subscribers still to take them. A subscriber
// that falls further behind than the others executes its events itself.
const maxSharedAnswers = 4096

// shareGroup identifies subscriptions whose events get identical answers: a digest of what
// the answers depend on (a thousand subscribers need not each keep the operation's text).
type shareGroup struct {
	gen  any // the policy generation; nil without a policy
	text [sha256.Size]byte
}

type eventKey struct {
	group shareGroup
	token string
}

// sharedAnswers are the answers of recent events, by group and event.
type sharedAnswers struct {
	mu    sync.Mutex
	byKey map[eventKey]*sharedAnswer
	order []eventKey // oldest first, for eviction
}

// sharedAnswer is one event's answer for a group: resp is set, and accessed lists what it
// disclosed, once done is closed. A nil resp means the executing subscriber left before it
// finished: the others execute the event themselves.
type sharedAnswer struct {
	done     chan struct{}
	resp     *graphql.Response
	accessed [][2]string
}

func newSharedAnswers() *sharedAnswers {
	return &sharedAnswers{byKey: map[eventKey]*sharedAnswer{}}
}

// groupOf returns the share group of a subscription operation by p, and false when it must
// not share (no principal).
func groupOf(oc *graphql.OperationContext, p *authz.Principal, policy *authz.Policy) (shareGroup, bool) {
	if p == nil || oc == nil {
		return shareGroup{}, false
	}
	vars, err := json.Marshal(oc.Variables) // map keys sorted: equal variables, equal text
	if err != nil {
		return shareGroup{}, false
	}
	roles := slices.Clone(p.Roles)
	slices.Sort(roles)
	var b strings.Builder
	for _, part := range []string{oc.RawQuery, oc.OperationName, string(vars), strings.Join(roles, ","), fmt.Sprint(p.Scopes), p.Patient,
		strings.Join(p.Datastores, ","), fmt.Sprint(p.Datastores == nil, p.Anonymous), p.Subject, p.Client} {
		b.WriteString(part)
		b.WriteByte(0)
	}
	g := shareGroup{text: sha256.Sum256([]byte(b.String()))}
	if policy != nil {
		g.gen = policy.Generation()
	}
	return g, true
}

// answer returns the answer to change for group: another subscriber's, or the one execute
// makes, which it then shares. What an answer disclosed is logged to log, the subscriber's
// audit, whoever executed it.
func (sa *sharedAnswers) answer(ctx context.Context, group shareGroup, change *graph.ResourceChange, log storage.AccessLog, execute func(context.Context) *graphql.Response) *graphql.Response {
	key := eventKey{group: group, token: change.Token}
	sa.mu.Lock()
	a, found := sa.byKey[key]
	if !found {
		a = &sharedAnswer{done: make(chan struct{})}
		sa.byKey[key] = a
		sa.order = append(sa.order, key)
		if len(sa.order) > maxSharedAnswers {
			old := sa.order[0]
			sa.order = sa.order[1:]
			if sa.byKey[old] != nil && old != key {
				delete(sa.byKey, old)
			}
		}
	}
	sa.mu.Unlock()
	if !found {
		capture := &accessCapture{next: log}
		resp := execute(storage.WithAccessLog(ctx, capture))
		a.resp, a.accessed = resp, capture.refs
		close(a.done)
		return resp
	}
	select {
	case <-a.done:
	case <-ctx.Done():
		return nil
	}
	if a.resp == nil {
		return execute(ctx)
	}
	if log != nil {
		for _, ref := range a.accessed {
			log.Accessed(ref[0], ref[1])
		}
	}
	resp := *a.resp // the fields are only read from here on
	return &resp
}

// accessCapture notes what an execution disclosed, passing it on to the subscriber's own log.
type accessCapture struct {
	next storage.AccessLog
	mu   sync.Mutex
	refs [][2]string
}

func (c *accessCapture) Accessed(typ, id string) {
	c.mu.Lock()
	c.refs = append(c.refs, [2]string{typ, id})
	c.mu.Unlock()
	if c.next != nil {
		c.next.Accessed(typ, id)
	}
}

// relayedEvents hands a subscription's events to GraphQL, answering those another subscriber
// of its group has answered already. It is used by one goroutine, the transport's.
type relayedEvents struct {
	relay  *resolvers.Relay
	shared *sharedAnswers
	group  shareGroup
	share  bool
	log    storage.AccessLog // the subscription's audit
	ended  bool
	// request gives an execution what a request has of its own (loaders, read limits):
	// made when an event is executed, not held while the subscription waits for one.
	request func(context.Context) context.Context
}

// next returns the answer to the subscription's next event, or what h returns at its end.
// finish readies an answer GraphQL made before anyone sends it.
func (r *relayedEvents) next(ctx context.Context, h graphql.ResponseHandler, finish func(*graphql.Response)) *graphql.Response {
	execute := func(ctx context.Context) *graphql.Response {
		resp := h(r.request(ctx))
		finish(resp)
		return resp
	}
	if r.relay.Out == nil || r.ended { // refused (h says why), or over
		return execute(ctx)
	}
	select {
	case change, ok := <-r.relay.Events:
		if !ok {
			r.ended = true
			close(r.relay.Out)
			return execute(ctx)
		}
		if !r.share {
			r.relay.Out <- change // it holds one: h takes it at once
			return execute(ctx)
		}
		return r.shared.answer(ctx, r.group, change, r.log, func(ctx context.Context) *graphql.Response {
			r.relay.Out <- change
			return execute(ctx)
		})
	case <-ctx.Done():
		return execute(ctx)
	}
}
