package bundle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fhirgate/fhirgate/storage"
)

var errCrash = errors.New("injected crash")

// TestTransactionCrashAtEachStep stops a transaction's commit after each step of the
// storage protocol, as if the process died there, reopens the data directory as a restarted
// server would (recovery runs), and checks that all of the transaction's writes are visible
// or none: creates, an update and a delete, of several types.
func TestTransactionCrashAtEachStep(t *testing.T) {
	ctx := context.Background()
	for step := storage.StepSeq; step <= storage.StepDone; step++ {
		t.Run(fmt.Sprintf("after step %d", step), func(t *testing.T) {
			dir := t.TempDir()
			c, s := openStore(t, dir)
			var n atomic.Int64
			p := &Processor{Store: s, NewID: func() string { return fmt.Sprintf("new%d", n.Add(1)) }}
			mustRun(t, p, txBundle("transaction", put("Patient/kept", patientJ), put("Patient/gone", patientJ)))
			head := feedHead(t, s)

			s.SetFailureHook(func(_ int64, k int) error {
				if k == step {
					return errCrash
				}
				return nil
			})
			_, err := run(t, p, txBundle("transaction",
				post("urn:uuid:p", patientJ),
				post("urn:uuid:o", observation("urn:uuid:p")),
				put("Patient/kept", strings.Replace(patientJ, "Chalmers", "Updated", 1)),
				del("Patient/gone"),
			))
			if !errors.Is(err, errCrash) {
				t.Fatalf("crashed transaction: %v, want the injected crash", err)
			}
			if err := c.Close(ctx); err != nil {
				t.Fatal(err)
			}

			c, s = openStore(t, dir)
			defer c.Close(ctx)
			committed := step >= storage.StepCommit
			check := func(typ, id string, wantV int64, wantDeleted bool) {
				t.Helper()
				rec, err := s.Read(ctx, typ, id)
				switch {
				case wantV == 0:
					if !errors.Is(err, storage.ErrNotFound) {
						t.Errorf("%s/%s: %v, want absent", typ, id, err)
					}
				case wantDeleted:
					if !errors.Is(err, storage.ErrDeleted) || rec.VersionID != wantV {
						t.Errorf("%s/%s: %v, want deleted at version %d", typ, id, err, wantV)
					}
				case err != nil || rec.VersionID != wantV:
					t.Errorf("%s/%s: %v, %v; want version %d", typ, id, rec, err, wantV)
				}
			}
			if committed {
				check("Patient", "new1", 1, false)
				check("Observation", "new2", 1, false)
				check("Patient", "kept", 2, false)
				check("Patient", "gone", 2, true)
				if ch, _ := s.Changes(ctx, head, 10); len(ch) != 1 || len(ch[0].Entries) != 4 {
					t.Errorf("feed after recovery: %+v, want the transaction as one change of 4", ch)
				}
			} else {
				check("Patient", "new1", 0, false)
				check("Observation", "new2", 0, false)
				check("Patient", "kept", 1, false)
				check("Patient", "gone", 1, false)
				if got := feedHead(t, s); got != head {
					t.Errorf("feed head %d after recovery, want %d", got, head)
				}
			}
			obs := readJSONIf(t, s, "Observation", "new2")
			if committed && !strings.Contains(obs, `"reference":"Patient/new1"`) {
				t.Errorf("recovered Observation %s does not refer to Patient/new1", obs)
			}
		})
	}
}

func readJSONIf(t testing.TB, s *storage.Store, typ, id string) string {
	rec, err := s.Read(context.Background(), typ, id)
	if err != nil {
		return ""
	}
	return string(rec.JSON)
}

// BenchmarkTransaction1000 runs transactions of 1,000 entries: 100 Patients and 900
// Observations referring to them by urn:uuid, on the embedded engine with validation and
// search fields, as the server runs.
func BenchmarkTransaction1000(b *testing.B) {
	s := newStore(b)
	p := &Processor{Store: s}
	var entries []string
	for i := range 100 {
		entries = append(entries, post(fmt.Sprintf("urn:uuid:p%d", i), patientJ))
		for j := range 9 {
			entries = append(entries, post(fmt.Sprintf("urn:uuid:o%d-%d", i, j), observation(fmt.Sprintf("urn:uuid:p%d", i))))
		}
	}
	body := []byte(txBundle("transaction", entries...))
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		out, err := p.Run(context.Background(), body, ReturnMinimal)
		if err != nil || len(out.Entry) != 1000 {
			b.Fatalf("transaction: %v", err)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "entries/s")
}
