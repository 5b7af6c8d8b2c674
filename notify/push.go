package notify

import (
	"context"
	"time"
)

// Deliver hands one event of a pushed subscription to its subscriber, waiting until it is
// taken, and reports false when the subscriber is gone.
type Deliver func(ev *Event) bool

// SubscribeFunc is Subscribe for a subscriber that takes events as they come instead of
// asking for them with Next: deliver receives each event, in order, and end, once, why the
// subscription ended (ErrClosed when it was closed or ctx ended), after the last event
// delivered. Both are called from a goroutine that runs only while events or the end wait to
// be delivered, so an idle subscription holds no goroutine. Replay, the bounded queue and its
// overflow, and Request.Until are as with Next; at Until, events still queued are dropped.
func (h *Hub) SubscribeFunc(ctx context.Context, req Request, deliver Deliver, end func(error)) (*Subscription, error) {
	s, err := h.subscribe(ctx, req, func(s *Subscription) {
		s.deliver, s.end = deliver, end
	})
	if err != nil {
		return nil, err
	}
	context.AfterFunc(ctx, s.Close)
	if !req.Until.IsZero() {
		t := time.AfterFunc(time.Until(req.Until), s.expire)
		context.AfterFunc(ctx, func() { t.Stop() })
	}
	if s.replaying {
		s.mu.Lock()
		s.pumpLocked()
		s.mu.Unlock()
	}
	return s, nil
}

// pumpLocked starts the delivering goroutine of a pushed subscription unless it runs. s.mu
// is held.
func (s *Subscription) pumpLocked() {
	if s.deliver == nil || s.pumping || s.ended {
		return
	}
	s.pumping = true
	go s.pump()
}

// pump delivers what waits, replaying the feed first while s replays, then the end once it
// is recorded; it returns when nothing is left to deliver.
func (s *Subscription) pump() {
	for {
		if s.replaying {
			if err := s.replay(s.ctx); err != nil {
				s.replaying = false
				s.finish(err)
				s.Close()
			}
		}
		s.mu.Lock()
		if s.head < len(s.queue) {
			ev := s.queue[s.head]
			s.queue[s.head] = nil
			if s.head++; s.head == len(s.queue) {
				s.queue, s.head = nil, 0
			}
			s.mu.Unlock()
			if !s.deliver(ev) {
				s.Close()
				s.mu.Lock()
				s.queue, s.head = nil, 0
				s.mu.Unlock()
			}
			continue
		}
		switch {
		case s.err != nil:
			s.ended = true
			err := s.err
			s.mu.Unlock()
			s.end(err)
			return
		case s.replaying:
			s.mu.Unlock()
			continue
		}
		s.pumping = false
		s.mu.Unlock()
		return
	}
}

// expire ends a pushed subscription at Request.Until, dropping what it had not delivered.
func (s *Subscription) expire() {
	s.h.mu.Lock()
	s.h.remove(s)
	s.h.mu.Unlock()
	s.mu.Lock()
	s.queue, s.head = nil, 0
	s.mu.Unlock()
	s.finish(ErrExpired)
}
