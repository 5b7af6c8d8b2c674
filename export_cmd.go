package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/fhirgate/fhirgate/export"
	"github.com/fhirgate/fhirgate/storage"
)

// exportCmd is `fhirgate export --out DIR`: it writes a datastore's resources as bulk
// data NDJSON files (one per type, as $export does, without de-identification: the CLI
// runs with the storage's own access), with a progress bar on a terminal and a line per
// type otherwise.
func exportCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fhirgate export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sf storageFlags
	sf.register(fs, getenv)
	out := fs.String("out", "", "directory to write <Type>.ndjson files into (created; existing files of the exported types are replaced)")
	types := fs.String("type", "", "resource types to export, comma-separated; empty: every type the datastore holds")
	since := fs.String("since", "", "export only resources changed after this instant (RFC 3339)")
	datastore := fs.String("datastore", storage.DefaultDatastore, "the datastore to export")
	var filters []string
	fs.Func("type-filter", "a FHIR search (Observation?code=...) the resources of its type must match; repeatable", func(s string) error {
		filters = append(filters, s)
		return nil
	})
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("export: --out is required and takes no other arguments")
	}
	req := export.Request{Level: export.System, TypeFilters: filters}
	if *types != "" {
		req.Types = strings.Split(*types, ",")
	}
	if *since != "" {
		t, err := time.Parse(time.RFC3339Nano, *since)
		if err != nil {
			return fmt.Errorf("export: --since: %w", err)
		}
		req.Since = t
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("export: %w", err)
	}

	c, store, err := sf.openDatastore(ctx, "export", stderr, *datastore)
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(ctx))
	plan, err := export.NewPlan(ctx, store, req, func(context.Context, string) error { return nil })
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}

	start := time.Now()
	report := newProgress(stderr)
	outputs, err := plan.Write(ctx, store, *out, func(_ context.Context, _ string, raw []byte) ([]byte, error) { return raw, nil }, report.report)
	report.done()
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	total := 0
	for _, o := range outputs {
		fmt.Fprintf(stdout, "%s\t%d\n", o.Type, o.Count)
		total += o.Count
	}
	secs := time.Since(start).Seconds()
	fmt.Fprintf(stdout, "exported %d resources of %d types to %s in %.1f s (%.0f resources/s)\n", total, len(outputs), *out, secs, float64(total)/secs)
	return nil
}

// progress reports an export's progress: a bar per type on a terminal, a line per type
// otherwise.
type progress struct {
	w    io.Writer
	tty  bool
	bar  *progressbar.ProgressBar
	typ  string
	last int
}

func newProgress(w io.Writer) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, tty: ok && term.IsTerminal(int(f.Fd()))}
}

// report is called with a type, its index and its count so far (see export.Plan.Write).
func (p *progress) report(typ string, _, n int) {
	if typ != p.typ {
		p.finishType()
		p.typ = typ
		if p.tty {
			p.bar = progressbar.NewOptions(-1, progressbar.OptionSetWriter(p.w), progressbar.OptionSetDescription(typ),
				progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("resources"),
				progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
		}
	}
	if p.bar != nil {
		p.bar.Set(n)
	}
	p.last = n
}

func (p *progress) finishType() {
	if p.typ == "" {
		return
	}
	if p.bar != nil {
		p.bar.Finish()
		p.bar = nil
	}
	fmt.Fprintf(p.w, "%s: %d resources\n", p.typ, p.last)
}

func (p *progress) done() { p.finishType() }
