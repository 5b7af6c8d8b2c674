package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"regexp"

	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/storage/embedded"
)

// storageFlags are the flags of the commands that open the server's storage themselves:
// the same --data and --mongodb-uri as the server's, with the same environment variables.
type storageFlags struct {
	dataDir, mongoURI string
}

func (f *storageFlags) register(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&f.dataDir, "data", cmp.Or(getenv("FHIRGATE_DATA"), "data"), "directory of the embedded store (FHIRGATE_DATA); the server must not be running on it")
	fs.StringVar(&f.mongoURI, "mongodb-uri", cmp.Or(getenv("MONGODB_URI"), getenv("FHIRGATE_MONGODB_URI")), "MongoDB URI; empty opens the embedded engine (MONGODB_URI)")
}

// open opens storage as the server does, search extraction included.
func (f *storageFlags) open(ctx context.Context, logger *slog.Logger) (*storage.Client, error) {
	c, err := storage.Open(ctx, storage.Config{URI: f.mongoURI, Engine: embedded.New(f.dataDir), Logger: logger, Indexer: search.Indexer{}})
	if err != nil {
		return nil, fmt.Errorf("open storage (is a server running on this data directory?): %w", err)
	}
	return c, nil
}

// openDatastore opens storage and the existing datastore name, for a command named cmd;
// warnings go to stderr. The caller closes the client.
func (f *storageFlags) openDatastore(ctx context.Context, cmd string, stderr io.Writer, name string) (*storage.Client, *storage.Store, error) {
	c, err := f.open(ctx, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return nil, nil, err
	}
	ok, err := c.HasDatastore(ctx, name)
	if err == nil && !ok {
		err = fmt.Errorf("%s: datastore %q does not exist; create it with fhirgate datastore create", cmd, name)
	}
	var s *storage.Store
	if err == nil {
		s, err = c.Datastore(ctx, name)
	}
	if err != nil {
		c.Close(context.WithoutCancel(ctx))
		return nil, nil, err
	}
	return c, s, nil
}

// datastoreName is the grammar of datastore names, as the admin API accepts them.
var datastoreName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// datastoreCmd is the `fhirgate datastore list|create|delete [name]` command.
func datastoreCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fhirgate datastore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: fhirgate datastore list | create NAME | delete NAME [flags]")
		fs.PrintDefaults()
	}
	var sf storageFlags
	sf.register(fs, getenv)
	if len(args) < 2 {
		fs.Usage()
		return errors.New("datastore: a subcommand is required")
	}
	sub := args[1]
	pos, err := parseInterspersed(fs, args[2:])
	if err != nil {
		return err
	}
	name := ""
	if len(pos) > 0 {
		name = pos[0]
	}
	switch {
	case sub == "list" && len(pos) == 0:
	case (sub == "create" || sub == "delete") && len(pos) == 1:
		if !datastoreName.MatchString(name) {
			return fmt.Errorf("datastore: %q: a name is 1 to 32 lower-case letters, digits and hyphens, starting with a letter", name)
		}
	default:
		fs.Usage()
		return fmt.Errorf("datastore: unknown subcommand or wrong arguments: %q", args[1:])
	}

	c, err := sf.open(ctx, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(ctx))

	switch sub {
	case "list":
		names, err := c.Datastores(ctx)
		if err != nil {
			return err
		}
		for _, n := range names {
			fmt.Fprintln(stdout, n)
		}
		return nil
	case "create":
		if ok, err := c.HasDatastore(ctx, name); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("datastore: %q exists", name)
		}
		if _, err := c.Datastore(ctx, name); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created %s, served under /ds/%s/\n", name, name)
		return nil
	default:
		if err := c.DropDatastore(ctx, name); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted %s\n", name)
		return nil
	}
}

// parseInterspersed parses flags placed before, between or after positional arguments
// (flag.Parse stops at the first positional one) and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
