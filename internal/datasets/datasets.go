// Package datasets opens the data sets the tests share: gzipped tar files in the testdata
// folder at the module root (see testdata/README.md). It finds that folder by walking up from
// the working directory to go.mod, so any package's tests find it, on any path, on a fresh
// clone with nothing beside it. (A package cannot be named testdata: the go tool ignores such
// directories.)
package datasets

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"sync"
	"testing"
)

// Set names a data set of the testdata folder.
type Set string

// The data sets.
const (
	// FHIRExamples holds the 699 official FHIR R4 example resources, one <Type>-<id>.json each.
	FHIRExamples Set = "fhir-r4-examples"
	// Synthea holds a Synthea bulk export of 10 patients, one <Type>.000.ndjson per type.
	Synthea Set = "synthea-ndjson-10"
)

// File is one file of a data set. Data is shared between callers: do not modify it.
type File struct {
	Name string
	Data []byte
}

// Files returns the files of set whose names match pattern (path.Match syntax), in name
// order. It fails t when the set cannot be read or when no file matches, so that a test
// never passes by checking nothing.
func Files(t testing.TB, set Set, pattern string) []File {
	t.Helper()
	out, err := match(set, pattern)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ReadFile returns the named file of set, failing t when it is absent.
func ReadFile(t testing.TB, set Set, name string) []byte {
	t.Helper()
	files, err := load(set)
	if err != nil {
		t.Fatal(err)
	}
	i := sort.Search(len(files), func(i int) bool { return files[i].Name >= name })
	if i == len(files) || files[i].Name != name {
		t.Fatalf("datasets: %s holds no file %s", set, name)
	}
	return files[i].Data
}

func match(set Set, pattern string) ([]File, error) {
	files, err := load(set)
	if err != nil {
		return nil, err
	}
	var out []File
	for _, f := range files {
		ok, err := path.Match(pattern, f.Name)
		if err != nil {
			return nil, fmt.Errorf("datasets: pattern %q: %w", pattern, err)
		}
		if ok {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("datasets: no file of %s matches %q, out of %d", set, pattern, len(files))
	}
	return out, nil
}

var (
	mu     sync.Mutex
	loaded = map[Set][]File{}
)

// load returns every file of set, sorted by name, reading the archive once per process.
func load(set Set) ([]File, error) {
	mu.Lock()
	defer mu.Unlock()
	if files, ok := loaded[set]; ok {
		return files, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("datasets: %w", err)
	}
	root, err := moduleRoot(wd)
	if err != nil {
		return nil, err
	}
	files, err := readArchive(filepath.Join(root, "testdata", string(set)+".tar.gz"))
	if err != nil {
		return nil, err
	}
	loaded[set] = files
	return files, nil
}

// moduleRoot returns the nearest directory at or above dir that holds go.mod.
func moduleRoot(dir string) (string, error) {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		up := filepath.Dir(d)
		if up == d {
			return "", fmt.Errorf("datasets: no go.mod at or above %s", dir)
		}
		d = up
	}
}

// readArchive reads the regular files of a gzipped tar, sorted by name.
func readArchive(name string) ([]File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("datasets: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("datasets: %s: %w", name, err)
	}
	var files []File
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("datasets: %s: %w", name, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("datasets: %s: %s: %w", name, h.Name, err)
		}
		files = append(files, File{Name: path.Clean(h.Name), Data: b})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files, nil
}
