package main

import (
	"fmt"
	"log/slog"

	"github.com/fhirgate/fhirgate/fhirpkg"
	"github.com/fhirgate/fhirgate/terminology"
	"github.com/fhirgate/fhirgate/validate"
)

// loadPackages loads the FHIR packages given with --package: their profiles and extension
// definitions into the returned set, their code systems, value sets and concept maps into
// the server's terminology, and says in the log what each held. A package that cannot be
// read stops the server: serving without the profiles it was told to enforce would accept
// what they refuse.
func loadPackages(paths []string, logger *slog.Logger) (*validate.ProfileSet, error) {
	set := validate.NewProfileSet()
	for _, path := range paths {
		pkg, err := fhirpkg.Open(path)
		if err != nil {
			return nil, fmt.Errorf("--package: %w", err)
		}
		s, err := fhirpkg.Install(pkg, set, terminology.Default())
		if err != nil {
			return nil, fmt.Errorf("--package %s: %w", path, err)
		}
		logger.Info("FHIR package loaded", "package", s.Package, "file", path,
			"profiles", len(s.Profiles), "extensions", len(s.Extensions),
			"codeSystems", s.Terminology["CodeSystem"], "valueSets", s.Terminology["ValueSet"], "conceptMaps", s.Terminology["ConceptMap"],
			"notLoaded", len(s.Unsupported), "otherResources", s.Ignored)
		for _, u := range s.Unsupported {
			logger.Warn("FHIR package: StructureDefinition not loaded", "package", s.Package, "reason", u)
		}
	}
	return set, nil
}
