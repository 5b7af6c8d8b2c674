// Package layering_test checks the module's layers: which packages may import what.
package layering_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// driverPrefix is the import path prefix of the MongoDB driver, bson included.
const driverPrefix = "go.mongodb.org/mongo-driver/"

// driverHomes are the directories, relative to the module root, whose packages (and the
// packages below them) may import the driver: storage, with its embedded engine, and
// search's filter builder.
var driverHomes = []string{"storage", "search"}

// rawDriverTests are the test files outside driverHomes that use the driver on purpose:
// benchmarks that compare fhirgate against the raw driver on the same store, and the test
// that runs the aggregate pipeline plan's own pipelines on the embedded engine.
var rawDriverTests = []string{"api/bench_test.go", "api/rest_bench_test.go", "ingest/bench_test.go", "export/bench_test.go", "aggregate/ferret_test.go"}

// TestDriverStaysInStorageAndSearch: MongoDB types (bson, filters, the driver) are storage's
// and search's vocabulary only. Every Go file of the module is read (generated ones too);
// one outside those packages that imports the driver fails the test, named with the import.
func TestDriverStaysInStorageAndSearch(t *testing.T) {
	root := moduleRoot(t)
	fset := token.NewFileSet()
	files, pkgs := 0, map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		files++
		pkgs[filepath.Dir(rel)] = true
		if inHome(rel) || slices.Contains(rawDriverTests, rel) {
			return nil
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); strings.HasPrefix(p, driverPrefix) {
				t.Errorf("%s imports %s: MongoDB types stay in storage/ and search/; ask search or storage in domain terms", rel, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The module has about 20 packages and hundreds of files: far fewer means the walk broke.
	if files < 100 || len(pkgs) < 15 {
		t.Fatalf("read %d files in %d directories; the walk missed the module", files, len(pkgs))
	}
	t.Logf("checked the imports of %d Go files in %d directories", files, len(pkgs))
}

// inHome reports whether the file at rel belongs to a package that may use the driver.
func inHome(rel string) bool {
	for _, h := range driverHomes {
		if strings.HasPrefix(rel, h+"/") {
			return true
		}
	}
	return false
}

// moduleRoot returns the directory of go.mod above the test's working directory.
func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test")
		}
		dir = parent
	}
}
