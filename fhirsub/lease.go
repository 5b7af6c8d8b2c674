package fhirsub

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// lease is a lease on a named role held in the database, so that one process at a time
// plays it. Each term of the lease is a document of its own, keyed "lease/<name>/<term>":
// a process takes a term by claiming the next key, and the key's uniqueness decides between
// processes that try at once, on every engine, without transactions or conditional updates.
// The holder renews its term by rewriting its own document before the term runs out; a
// term that ran out (its holder died or lost the database) may be followed by the next. A
// holder stops acting once its term, as it last renewed it, has run out, so two holders never
// act at once while their clocks agree within grace.
type lease struct {
	st     States
	name   string
	holder string
	ttl    time.Duration
	now    func() time.Time

	term  int64     // the newest term seen
	until time.Time // the end of this process's term; zero when it holds none
}

// grace is how long after a term runs out another process waits before it takes the next:
// room for clock differences between processes.
const grace = 2 * time.Second

type leaseTerm struct {
	Holder string `json:"holder"`
	Until  int64  `json:"until"` // Unix milliseconds
}

func (l *lease) key(term int64) string { return fmt.Sprintf("lease/%s/%010d", l.name, term) }

// acquire takes or renews the lease and reports whether this process holds it until
// l.until.
func (l *lease) acquire(ctx context.Context) (bool, error) {
	now := l.now()
	var cur *leaseTerm
	// Find the newest term from the last one seen: one lookup per term since.
	for {
		v, ok, err := l.st.State(ctx, l.key(l.term+1))
		if err != nil {
			return false, err
		}
		if !ok {
			break
		}
		l.term++
		var t leaseTerm
		if err := json.Unmarshal([]byte(v), &t); err != nil {
			return false, fmt.Errorf("lease %s term %d: %w", l.name, l.term, err)
		}
		cur = &t
	}
	if cur == nil && l.term > 0 {
		v, ok, err := l.st.State(ctx, l.key(l.term))
		if err != nil {
			return false, err
		}
		if ok {
			var t leaseTerm
			if err := json.Unmarshal([]byte(v), &t); err != nil {
				return false, fmt.Errorf("lease %s term %d: %w", l.name, l.term, err)
			}
			cur = &t
		}
	}
	next := leaseTerm{Holder: l.holder, Until: now.Add(l.ttl).UnixMilli()}
	b, _ := json.Marshal(next)
	switch {
	case cur != nil && cur.Holder == l.holder && now.UnixMilli() < cur.Until:
		// Renew: only the holder writes its term's document.
		if err := l.st.PutState(ctx, l.key(l.term), string(b)); err != nil {
			return false, err
		}
	case cur == nil || now.After(time.UnixMilli(cur.Until).Add(grace)):
		ok, err := l.st.ClaimState(ctx, l.key(l.term+1), string(b))
		if err != nil {
			return false, err
		}
		l.term++
		if !ok { // another process took this term first
			l.until = time.Time{}
			return false, nil
		}
	default:
		l.until = time.Time{}
		return false, nil
	}
	l.until = time.UnixMilli(next.Until)
	return true, nil
}
