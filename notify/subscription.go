package notify

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Subscription is one subscriber's stream of events. Next must be called from one goroutine
// at a time; Close from any.
type Subscription struct {
	h     *Hub
	ctx   context.Context
	crit  *criteria
	until time.Time

	// Owned by the goroutine calling Next: the feed position a replay has reached, and
	// whether it still replays.
	replaying bool

	// Guarded by h.mu: whether the Hub fans out to s, and the position before which the Hub
	// skips writes because s replayed them itself.
	isLive bool
	skip   Token

	wake chan struct{} // signalled when events or the end arrive

	// pos is the feed position s has reached: set before s goes live, by Subscribe or
	// the replay, and read by the Hub after.
	pos Token

	// deliver and end take the events of a pushed subscription (SubscribeFunc); nil for
	// one read with Next.
	deliver Deliver
	end     func(error)

	// Guarded by mu: the events waiting for Next or delivery, the token of the last one
	// queued, why the subscription ended, and, for a pushed subscription, whether a
	// delivering goroutine runs and whether end was called.
	mu      sync.Mutex
	queue   []*Event
	head    int
	last    Token
	err     error
	pumping bool
	ended   bool
}

// Next returns the next event, waiting for it. It returns an error when the subscription
// ends, after every event queued before the end: the context's error, ErrClosed after Close,
// ErrExpired at Request.Until, an *Overflow when the subscriber fell behind, or the error
// that stopped the feed for it.
func (s *Subscription) Next(ctx context.Context) (*Event, error) {
	var expiry <-chan time.Time
	if !s.until.IsZero() {
		t := time.NewTimer(time.Until(s.until))
		defer t.Stop()
		expiry = t.C
	}
	for {
		if !s.until.IsZero() && !time.Now().Before(s.until) {
			s.Close()
			return nil, ErrExpired
		}
		if ev, err, ok := s.pop(); ok {
			return ev, err
		}
		if s.replaying {
			if err := s.replay(ctx); err != nil {
				s.Close()
				return nil, err
			}
			continue
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
			s.Close()
			return nil, ctx.Err()
		case <-s.ctx.Done():
			s.Close()
			return nil, s.ctx.Err()
		case <-expiry:
		}
	}
}

// pop returns the next queued event, or the end once the queue is empty; ok is false when
// there is neither yet.
func (s *Subscription) pop() (*Event, error, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.head < len(s.queue) {
		ev := s.queue[s.head]
		s.queue[s.head] = nil
		s.head++
		if s.head == len(s.queue) {
			// Drop a large backing array once drained, so that a burst does not pin memory.
			if cap(s.queue) > 64 {
				s.queue = nil
			} else {
				s.queue = s.queue[:0]
			}
			s.head = 0
		}
		return ev, nil, true
	}
	if s.err != nil {
		return nil, s.err, true
	}
	return nil, nil, false
}

// push queues evs unless that would hold more than limit events; it reports whether it did.
// The caller holds h.mu.
func (s *Subscription) push(evs []*Event, limit int) bool {
	if len(evs) == 0 {
		return true
	}
	s.mu.Lock()
	if len(s.queue)-s.head+len(evs) > limit {
		// Queue what fits, so that the resume token points just after the last of them.
		fit := max(0, limit-(len(s.queue)-s.head))
		s.queue = append(s.queue, evs[:fit]...)
		if fit > 0 {
			s.last = evs[fit-1].Token
		}
		s.mu.Unlock()
		return false
	}
	s.queue = append(s.queue, evs...)
	s.last = evs[len(evs)-1].Token
	s.pumpLocked()
	s.mu.Unlock()
	s.signal()
	return true
}

// lastToken returns the token of the last event queued, or the position s started from.
func (s *Subscription) lastToken() Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == (Token{}) {
		return s.pos
	}
	return s.last
}

// finish records why s ended; Next returns it, or end receives it, once the queue is drained.
func (s *Subscription) finish(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.pumpLocked()
	s.mu.Unlock()
	s.signal()
}

func (s *Subscription) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Close ends the subscription; Next returns ErrClosed once the queue is drained.
func (s *Subscription) Close() {
	s.h.mu.Lock()
	s.h.remove(s)
	s.h.mu.Unlock()
	s.finish(ErrClosed)
}

// replay reads one page of the feed after s.pos, queues the events it makes, and joins the
// Hub's live fan-out once the page reaches the end of the feed.
func (s *Subscription) replay(ctx context.Context) error {
	changes, err := s.h.src.Changes(ctx, s.pos.done(), replayPage)
	if err != nil {
		return fmt.Errorf("notify: replay after %s: %w", s.pos, err)
	}
	var evs []*Event
	for i := range changes {
		c := &changes[i]
		entries := make([]*entry, len(c.Entries))
		for idx, w := range c.Entries {
			if w.Type != s.crit.typ || s.pos.covers(c.Seq, idx) {
				continue
			}
			if entries[idx], err = load(ctx, s.h.src, c, idx); err != nil {
				return err
			}
		}
		got, err := s.crit.events(s.ctx, c.Seq, entries, s.pos)
		if err != nil {
			return fmt.Errorf("notify: replay change %d: %w", c.Seq, err)
		}
		evs = append(evs, got...)
		s.pos = after(c.Seq)
	}
	s.mu.Lock()
	s.queue = append(s.queue, evs...)
	s.mu.Unlock()
	if len(changes) < replayPage && s.h.joinAt(s) {
		s.replaying = false
	}
	return nil
}
