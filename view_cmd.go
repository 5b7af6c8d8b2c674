package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fhirgate/fhirgate/internal/jsontree"
	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/view"
)

// viewCmd is `fhirgate view --view def.json --out file [--format parquet|csv|ndjson|json]`: it
// writes the rows of a SQL on FHIR ViewDefinition over every stored resource of the view's
// type, reading storage itself as the datastore command does (the server must not be running
// on an embedded data directory). Nothing is left at --out unless the whole run succeeds.
func viewCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fhirgate view", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: fhirgate view --view def.json --out file [--format parquet|csv|ndjson|json] [flags]")
		fs.PrintDefaults()
	}
	var sf storageFlags
	sf.register(fs, getenv)
	def := fs.String("view", "", "the ViewDefinition (JSON file)")
	out := fs.String("out", "", "the file to write; - writes to standard output")
	format := fs.String("format", "", "parquet, csv, ndjson or json; by default the --out file's extension, else parquet")
	ds := fs.String("datastore", storage.DefaultDatastore, "the datastore to read")
	if _, err := parseInterspersed(fs, args[1:]); err != nil {
		return err
	}
	if *def == "" || *out == "" {
		fs.Usage()
		return errors.New("view: --view and --out are required")
	}
	f := *format
	if f == "" {
		f = strings.TrimPrefix(filepath.Ext(*out), ".")
		if view.ContentType(f) == "" {
			f = view.FormatParquet
		}
	}
	if view.ContentType(f) == "" {
		return fmt.Errorf("view: --format %q is not one of %s", f, strings.Join(view.Formats(), ", "))
	}
	data, err := os.ReadFile(*def)
	if err != nil {
		return fmt.Errorf("view: %w", err)
	}
	v, err := view.Parse(data)
	if err != nil {
		return fmt.Errorf("view: %s: %w", *def, err)
	}

	c, store, err := sf.openDatastore(ctx, "view", stderr, *ds)
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(ctx))

	start := time.Now()
	var resources, rows int
	write := func(w io.Writer) error {
		vw, err := view.NewWriter(f, w, v.Columns)
		if err != nil {
			return err
		}
		if resources, rows, err = exportView(ctx, store, v, vw); err != nil {
			return err
		}
		return vw.Close()
	}
	if *out == "-" {
		bw := bufio.NewWriter(stdout)
		if err := write(bw); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return err
		}
	} else if err := writeFileAtomic(*out, write); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "view %s: %d rows from %d %s resources, %s, in %v\n", cmpName(v.Name, *def), rows, resources, v.Resource, f, time.Since(start).Round(time.Millisecond))
	return nil
}

// exportView writes the rows of v over every current resource of its type in store, read in
// one pass (in id order on the embedded engine), as bulk export reads: search's keyset pages
// would cost a scan of the type each there.
func exportView(ctx context.Context, store *storage.Store, v *view.View, w view.Writer) (resources, rows int, err error) {
	emit := func(r view.Row) error { rows++; return w.Write(r) }
	err = store.Each(ctx, v.Resource, nil, time.Time{}, func(rec *storage.Record) error {
		res, err := jsontree.DecodeObject(rec.JSON) // numbers as json.Number, as the view evaluator reads them
		if err != nil {
			return fmt.Errorf("stored %s/%s: %w", rec.Type, rec.ID, err)
		}
		resources++
		return v.Rows(res, emit)
	})
	return resources, rows, err
}

// writeFileAtomic writes name through write, into a temporary file beside it that replaces
// name only when everything was written.
func writeFileAtomic(name string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*.partial")
	if err != nil {
		return fmt.Errorf("view: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, there is nothing to remove
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err := write(bw); err != nil {
		tmp.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return fmt.Errorf("view: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("view: %w", err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("view: %w", err)
	}
	return nil
}

// cmpName names the view in messages: its name, else its file.
func cmpName(name, file string) string {
	if name != "" {
		return name
	}
	return file
}
