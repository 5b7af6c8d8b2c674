package fhirsub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/fhirgate/fhirgate/notify"
)

// worker serves one Subscription while its plan holds: it activates it, and for a rest-hook
// posts each change its criteria select, in order, each until it is acknowledged.
type worker struct {
	m       *Manager
	plan    *Plan
	cancel  func()
	done    chan struct{}
	created int64 // the change that wrote the version the worker was started from
	failing bool  // the last delivery failed MaxAttempts times
}

func (w *worker) run(ctx context.Context) {
	m, p := w.m, w.plan
	if err := p.Check(m.opt.Endpoints); err != nil {
		m.setStatus(ctx, p.ID, StatusError, err.Error())
		return
	}
	owner, err := loadOwner(ctx, m.store, p.ID)
	if err != nil {
		if ctx.Err() == nil {
			m.setStatus(ctx, p.ID, StatusError, err.Error())
		}
		return
	}
	octx, err := m.opt.Authorize(ctx, owner, p.Query)
	if err != nil {
		m.setStatus(ctx, p.ID, StatusError, "the owner may not subscribe to these criteria: "+err.Error())
		return
	}
	if p.Status == StatusRequested {
		if !m.setStatus(ctx, p.ID, StatusActive, "") {
			return
		}
	}
	if p.Channel != RestHook {
		return // websocket clients are pinged by the process they are bound to
	}
	since, err := m.loadCursor(ctx, p.ID)
	if err != nil {
		m.log.Error("fhir subscriptions: cursor", "id", p.ID, "error", err)
		return
	}
	if since == nil {
		// First delivery: the changes after the Subscription was written.
		t := notify.Token{Seq: w.created, Entry: -1}
		if err := m.saveCursor(ctx, p.ID, t); err != nil {
			return
		}
		since = &t
	}
	for ctx.Err() == nil {
		sub, err := m.changes.Subscribe(octx, notify.Request{Type: p.Type, Query: p.Query, Since: since})
		if err != nil {
			m.setStatus(ctx, p.ID, StatusError, "cannot resume delivery: "+err.Error())
			return
		}
		for {
			ev, err := sub.Next(ctx)
			if err != nil {
				break // ended, or fell behind: resume from the cursor
			}
			if err := w.deliver(ctx, octx, ev); err != nil {
				sub.Close()
				return
			}
			if err := m.saveCursor(ctx, p.ID, ev.Token); err != nil {
				m.log.Error("fhir subscriptions: save cursor", "id", p.ID, "error", err)
			}
			t := ev.Token
			since = &t
		}
		sub.Close()
	}
}

// deliver posts ev until the endpoint acknowledges it, backing off exponentially; after
// MaxAttempts failures in a row the Subscription's status becomes error, and back to active
// once a delivery succeeds. It posts only while this process's lease term runs, and stops
// when ctx ends.
func (w *worker) deliver(ctx, octx context.Context, ev *notify.Event) error {
	m := w.m
	for attempt := 1; ; attempt++ {
		// A term that ran out before its renewal was recorded (a slow store, a loaded
		// machine) pauses delivery until the renewal lands; a lease lost to another process
		// ends the leadership's context, and this worker with it. Returning here instead
		// stopped the worker for good while the process went on leading.
		for !m.leading() {
			if !sleep(ctx, m.opt.LeaseTTL/10) {
				return ctx.Err()
			}
		}
		err := w.post(ctx, octx, ev)
		if err == nil {
			if w.failing {
				w.failing = false
				m.setStatus(ctx, w.plan.ID, StatusActive, "")
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		m.log.Warn("fhir subscriptions: rest-hook delivery failed", "id", w.plan.ID, "attempt", attempt, "error", err)
		if attempt == m.opt.MaxAttempts {
			w.failing = true
			m.setStatus(ctx, w.plan.ID, StatusError, fmt.Sprintf("rest-hook delivery failed %d times in a row, retrying: %v", attempt, err))
		}
		wait := m.opt.MaxBackoff
		if attempt < 30 {
			wait = min(m.opt.Backoff<<(attempt-1), m.opt.MaxBackoff)
		}
		if !sleep(ctx, wait) {
			return ctx.Err()
		}
	}
}

// post sends one notification: a POST to the endpoint with the channel's headers and, with a
// payload type, the version the change wrote as the owner may read it (a delete has none).
func (w *worker) post(ctx, octx context.Context, ev *notify.Event) error {
	p := w.plan
	var body []byte
	if p.Payload != "" && ev.Record != nil && !ev.Record.Deleted {
		var err error
		if body, err = w.m.opt.Redact(octx, ev.Type, ev.Record.JSON); err != nil {
			return fmt.Errorf("redact: %w", err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.Endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for _, h := range p.Headers {
		name, value, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	// What changed, for receivers that take notifications only, and the change's token, by
	// which a receiver can tell a redelivery (after a crash between a post and its
	// acknowledgement being recorded) from a new change.
	req.Header.Set("X-Fhirgate-Subscription", p.ID)
	req.Header.Set("X-Fhirgate-Event", ev.Token.String())
	req.Header.Set("X-Fhirgate-Resource", fmt.Sprintf("%s/%s/_history/%d", ev.Type, ev.ID, ev.Version))
	req.Header.Set("X-Fhirgate-Operation", strings.ToLower(string(ev.Op)))
	resp, err := w.m.opt.Client.Do(req)
	if err != nil {
		return fmt.Errorf("post: %w", errors.Unwrap(err)) // the url.Error wrapper repeats the endpoint
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("the endpoint answered %s", resp.Status)
	}
	return nil
}
