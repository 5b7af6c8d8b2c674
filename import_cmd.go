package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/fhirgate/fhirgate/ingest"
	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/validate"
)

// importCmd is the `fhirgate import <file|dir|glob>...` command: it loads NDJSON and
// JSON files (Synthea's bundles too) into a datastore through storage, as package ingest
// describes, with a progress bar on a terminal and plain lines otherwise.
func importCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fhirgate import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: fhirgate import [flags] <file|dir|glob>...\n\nImports .ndjson, .ndjson.gz and .json files (resources, and batch or transaction Bundles such as Synthea's). Run it again to resume after a crash.")
		fs.PrintDefaults()
	}
	var sf storageFlags
	sf.register(fs, getenv)
	datastore := fs.String("datastore", storage.DefaultDatastore, "datastore to import into; it must exist")
	validation := fs.String("validation", getenvOr(getenv, "FHIRGATE_VALIDATION", string(validate.Strict)), "strict refuses resources with errors (reported per line), warn and off store them (FHIRGATE_VALIDATION)")
	bundles := fs.String("bundles", string(ingest.RunBundles), "run batch and transaction Bundles found in .json files, or store them as resources")
	restart := fs.Bool("restart", false, "import files again even if an earlier run imported them whole (unchanged resources are still left alone)")
	errorsFile := fs.String("errors", "", "write each line or entry not imported, with its OperationOutcome, to this NDJSON file")
	batch := fs.Int("batch", ingest.DefaultBatchResources, "resources per commit")
	progress := fs.String("progress", "auto", "auto (a bar on a terminal, lines otherwise), bar, lines or off")
	every := fs.Duration("progress-interval", 5*time.Second, "how often a progress line is printed when there is no bar")
	memLimit := fs.Int64("memory-limit", 300<<20, "soft limit of the Go heap in bytes, which the garbage collector works to stay under (GOMEMLIMIT, when set, wins); 0 for none")
	paths, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		fs.Usage()
		return errors.New("import: name at least one file, directory or glob")
	}
	// A bound on the heap, not only on what is in flight: the garbage collector otherwise lets
	// the heap grow to twice what is live (measured: 560 MB peak RSS for a 100 MB file without
	// it, 387 MB with 300 MiB, at the same speed).
	if *memLimit > 0 && getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(*memLimit)
	}
	mode, err := validate.ParseMode(*validation)
	if err != nil {
		return fmt.Errorf("import: --validation: %w", err)
	}
	if *bundles != string(ingest.RunBundles) && *bundles != string(ingest.StoreBundles) {
		return fmt.Errorf("import: --bundles: want run or store, not %q", *bundles)
	}

	c, store, err := sf.openDatastore(ctx, "import", stderr, *datastore)
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(ctx))
	if mode != validate.Off {
		g, err := validate.NewGuard(mode)
		if err != nil {
			return err
		}
		store.SetValidator(g)
	}

	im := &ingest.Importer{Store: store, Bundles: ingest.BundleMode(*bundles), Restart: *restart, BatchResources: *batch}
	var p *ingest.Progress
	switch *progress {
	case "auto":
		f, ok := stderr.(*os.File)
		p = ingest.ShowProgress(im, stderr, ok && term.IsTerminal(int(f.Fd())), *every)
	case "bar", "lines":
		p = ingest.ShowProgress(im, stderr, *progress == "bar", *every)
	case "off":
	default:
		return fmt.Errorf("import: --progress: want auto, bar, lines or off, not %q", *progress)
	}
	report, closeReport, err := errorReport(*errorsFile)
	if err != nil {
		return err
	}
	defer closeReport()
	im.OnError = func(e ingest.LineError) {
		report(e)
		if p != nil {
			p.Print(e.String())
		} else {
			fmt.Fprintln(stderr, e.String())
		}
	}

	err = im.Import(ctx, paths)
	if p != nil {
		p.Done()
	}
	s := im.Stats()
	fmt.Fprintf(stdout, "imported %d resources (%d new versions, %d unchanged) from %d files in %s; %d not imported\n",
		s.Written+s.Unchanged, s.Written, s.Unchanged, s.FilesDone, time.Since(s.Started).Round(time.Millisecond), s.Failed)
	if err != nil {
		return fmt.Errorf("import: %w (run the same command again to continue)", err)
	}
	if s.Failed > 0 {
		return fmt.Errorf("import: %d lines or entries were not imported", s.Failed)
	}
	return nil
}

// errorReport returns a function writing each error as an NDJSON line to path ("" writes
// nothing) and one closing the file.
func errorReport(path string) (func(ingest.LineError), func(), error) {
	if path == "" {
		return func(ingest.LineError) {}, func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, fmt.Errorf("import: --errors: %w", err)
	}
	var mu sync.Mutex
	enc := json.NewEncoder(f)
	return func(e ingest.LineError) {
			mu.Lock()
			defer mu.Unlock()
			rec := map[string]any{"file": e.File, "outcome": json.RawMessage(e.Outcome)}
			if e.Entry {
				rec["entry"] = e.Line
			} else if e.Line > 0 {
				rec["line"] = e.Line
			}
			_ = enc.Encode(rec)
		}, func() {
			_ = f.Close()
		}, nil
}

// getenvOr returns the environment variable name, or def when it is empty.
func getenvOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}
