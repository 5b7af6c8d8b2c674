// Package fhirpkg reads FHIR packages, the npm-style .tgz files the FHIR package registry
// serves (package/package.json and the resources as package/*.json), and installs their
// conformance resources: StructureDefinitions as profiles for validation, and CodeSystems,
// ValueSets and ConceptMaps into a terminology registry.
package fhirpkg

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/fhirgate/fhirgate/terminology"
	"github.com/fhirgate/fhirgate/validate"
)

// maxEntry bounds one file of a package: the largest resources of real packages are a few
// megabytes.
const maxEntry = 64 << 20

// Package is a FHIR package: its name, version and resources.
type Package struct {
	Name    string
	Version string
	// Resources are the package's resources (package/*.json), in file-name order.
	Resources []Resource
}

// Resource is one resource of a package.
type Resource struct {
	File string // its file name in the package
	Type string // its resourceType
	JSON []byte
}

// Open reads the package in the .tgz file at name.
func Open(name string) (*Package, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("fhirpkg: %w", err)
	}
	defer f.Close()
	p, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("fhirpkg: %s: %w", name, err)
	}
	return p, nil
}

// Read reads a package from a .tgz stream.
func Read(r io.Reader) (*Package, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("not a gzip file: %w", err)
	}
	tr := tar.NewReader(zr)
	p := &Package{}
	sawManifest := false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the archive: %w", err)
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		dir, file := path.Split(name)
		// Only the package folder's own files: examples, tests and other/ are not installed.
		if h.Typeflag != tar.TypeReg || dir != "package/" || !strings.HasSuffix(file, ".json") || strings.HasPrefix(file, ".") {
			continue
		}
		if h.Size > maxEntry {
			return nil, fmt.Errorf("%s is larger than %d bytes", name, maxEntry)
		}
		data, err := io.ReadAll(io.LimitReader(tr, maxEntry))
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		if file == "package.json" {
			var m struct {
				Name    string `json:"name"`
				Version string `json:"version"`
			}
			if err := json.Unmarshal(data, &m); err != nil {
				return nil, fmt.Errorf("package/package.json: %w", err)
			}
			p.Name, p.Version, sawManifest = m.Name, m.Version, true
			continue
		}
		var head struct {
			ResourceType string `json:"resourceType"`
		}
		if json.Unmarshal(data, &head) != nil || head.ResourceType == "" {
			continue // not a resource
		}
		p.Resources = append(p.Resources, Resource{File: file, Type: head.ResourceType, JSON: data})
	}
	if !sawManifest {
		return nil, errors.New("no package/package.json: not a FHIR package")
	}
	sort.Slice(p.Resources, func(i, j int) bool { return p.Resources[i].File < p.Resources[j].File })
	return p, nil
}

// Summary says what Install installed from a package.
type Summary struct {
	Package    string // name#version
	Profiles   []string
	Extensions []string
	// Terminology counts the CodeSystems, ValueSets and ConceptMaps added, by type.
	Terminology map[string]int
	// Unsupported lists the StructureDefinitions not installed, each with the reason (one
	// given only as a differential: no snapshot generation).
	Unsupported []string
	// Ignored counts the other resources (SearchParameters, examples, ...).
	Ignored int
}

// Install adds the package's profiles and extension definitions to profiles and its
// terminology resources to reg. A StructureDefinition that cannot be used (no snapshot, a
// base type or logical model) is listed in Unsupported; a terminology resource reg refuses
// fails the install.
func Install(p *Package, profiles *validate.ProfileSet, reg *terminology.Registry) (*Summary, error) {
	s := &Summary{Package: p.Name + "#" + p.Version, Terminology: map[string]int{}}
	for _, r := range p.Resources {
		switch r.Type {
		case "StructureDefinition":
			prof, err := validate.CompileProfile(r.JSON)
			if err != nil {
				s.Unsupported = append(s.Unsupported, r.File+": "+err.Error())
				continue
			}
			profiles.Add(prof)
			if prof.Type == "Extension" {
				s.Extensions = append(s.Extensions, prof.URL)
			} else {
				s.Profiles = append(s.Profiles, prof.URL)
			}
		case "CodeSystem", "ValueSet", "ConceptMap":
			if err := reg.AddResource(r.JSON); err != nil {
				return s, fmt.Errorf("fhirpkg: %s: %s: %w", s.Package, r.File, err)
			}
			s.Terminology[r.Type]++
		default:
			s.Ignored++
		}
	}
	return s, nil
}
