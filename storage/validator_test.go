package storage

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

// refusingValidator records what it is asked and refuses resources whose JSON holds "refuse".
type refusingValidator struct {
	mu   sync.Mutex
	seen []string
}

var errRefused = errors.New("refused by the validator")

func (v *refusingValidator) Validate(_ context.Context, typ, id string, resource []byte) error {
	v.mu.Lock()
	v.seen = append(v.seen, typ+"/"+id)
	v.mu.Unlock()
	if strings.Contains(string(resource), "refuse") {
		return errRefused
	}
	return nil
}

// TestValidatorGuardsCommit checks the chokepoint: the store's validator sees every resource
// of a commit (deletes carry none) before anything is stored, one refusal refuses the whole
// commit with the validator's error, and SetValidator(nil) checks nothing.
func TestValidatorGuardsCommit(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	v := &refusingValidator{}
	s.SetValidator(v)

	mustPut(t, s, "Patient", "a", res(`{"resourceType":"Patient","id":"a"}`))
	_, err := s.Commit(ctx, []Write{
		putW("Patient", "b", res(`{"resourceType":"Patient","id":"b"}`)),
		putW("Patient", "c", res(`{"resourceType":"Patient","id":"c","gender":"refuse"}`)),
	})
	if !errors.Is(err, errRefused) {
		t.Fatalf("commit: %v, want the validator's error", err)
	}
	for _, id := range []string{"b", "c"} {
		if _, err := s.Read(ctx, "Patient", id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Patient/%s: %v, want not found: a refused commit stores nothing", id, err)
		}
	}
	if _, err := s.Commit(ctx, []Write{{Op: OpDelete, Type: "Patient", ID: "a"}}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if got := strings.Join(v.seen, " "); got != "Patient/a Patient/b Patient/c" {
		t.Errorf("validated %q, want Patient/a Patient/b Patient/c", got)
	}

	s.SetValidator(nil)
	mustPut(t, s, "Patient", "d", res(`{"resourceType":"Patient","id":"d","gender":"refuse"}`))
	if len(v.seen) != 3 {
		t.Errorf("validated %v after SetValidator(nil)", v.seen)
	}
}
