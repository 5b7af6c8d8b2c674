package storage

import (
	"slices"
	"sync"
)

// keyLocks is a set of mutexes by key, created on demand and dropped when unused.
//
// Commits hold the locks of every resource they write from reading the current
// versions until the new ones are applied. On the embedded engine, which runs in this
// process only, that is what makes "read, compare, write by _id" as safe as a
// conditional update (whose extra filter fields would make FerretDB scan the
// collection). On MongoDB the protocol is correct without them; they only keep
// writers in one process from racing each other into retries.
type keyLocks struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

// lock acquires the locks for keys in sorted order, so that two callers with
// overlapping key sets cannot deadlock, and returns the function that releases them.
func (l *keyLocks) lock(keys []string) (unlock func()) {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	keys = slices.Compact(keys)

	held := make([]*keyLock, len(keys))

	l.mu.Lock()
	if l.locks == nil {
		l.locks = map[string]*keyLock{}
	}
	for i, k := range keys {
		kl := l.locks[k]
		if kl == nil {
			kl = &keyLock{}
			l.locks[k] = kl
		}
		kl.refs++
		held[i] = kl
	}
	l.mu.Unlock()

	for _, kl := range held {
		kl.mu.Lock()
	}

	return func() {
		for i := len(held) - 1; i >= 0; i-- {
			held[i].mu.Unlock()
		}

		l.mu.Lock()
		for i, k := range keys {
			if held[i].refs--; held[i].refs == 0 {
				delete(l.locks, k)
			}
		}
		l.mu.Unlock()
	}
}
