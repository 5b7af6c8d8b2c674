package search

import "slices"

// Modifiers of a search parameter use that are no FHIR modifiers: what ElementReads is asked
// about when a parameter sorts, and when it is tested for absence.
const (
	ModSort    = "sort"
	ModMissing = "missing"
)

// feeds says, for a value of one FHIR type, which of its elements (paths relative to the value,
// "" for the value itself) extraction copies into each index field. It mirrors entriesFor and
// its helpers: change those, change this (api.TestParamReadsCoverExtraction checks it against
// extraction on the official examples). A type not listed is read whole.
var feeds = map[string]map[string][]string{
	"Reference": {
		fRef: {"reference"}, fRefT: {"reference"}, fRefID: {"reference"}, fExact: {"reference"},
		fSystem: {"identifier.system", "identifier.value"}, fCode: {"identifier.system", "identifier.value"},
	},
	"CodeableConcept": {
		fSystem: {"coding.system"}, fCode: {"coding.code"}, fText: {"text", "coding.display"},
	},
	"Coding": {
		fSystem: {"system"}, fCode: {"code"}, fText: {"display"},
	},
	// Whether an entry is shaped as an identifier or a coding depends on both system and value.
	"Identifier": {
		fSystem: {"system", "value"}, fCode: {"system", "value"}, fText: {"type.text"},
		fTypeS: {"type.coding.system"}, fTypeC: {"type.coding.code"},
	},
	// A ContactPoint is told from an Identifier by its system, use and rank.
	"ContactPoint": {
		fSystem: {"value", "system", "use", "rank"}, fCode: {"value", "system", "use", "rank"},
	},
	"Quantity": quantityFeeds, "Age": quantityFeeds, "Count": quantityFeeds, "Distance": quantityFeeds,
	"Duration": quantityFeeds, "SimpleQuantity": quantityFeeds, "MoneyQuantity": quantityFeeds,
	"Money": {
		fLo: {"value"}, fHi: {"value"}, fSystem: {"value", "currency"}, fCode: {"value", "currency"},
	},
	"Period": {fLo: {"start", "end"}, fHi: {"start", "end"}},
	"Timing": {
		fLo: {"event", "repeat.boundsPeriod.start", "repeat.boundsPeriod.end"},
		fHi: {"event", "repeat.boundsPeriod.start", "repeat.boundsPeriod.end"},
	},
	"LocationPosition": {fLat: {"latitude", "longitude"}, fLon: {"latitude", "longitude"}},
}

// An entry of a quantity exists only when the value does, so every field reads the value.
var quantityFeeds = map[string][]string{
	fLo: {"value"}, fHi: {"value"}, fSystem: {"value", "system"}, fCode: {"value", "code"}, fUnit: {"value", "unit"},
}

// ComparedFields lists the index fields a search by a parameter of type ptype with modifier mod
// compares (see the match functions in filter.go and sortKey); nil means every field.
func ComparedFields(ptype, mod string) []string {
	switch mod {
	case ModMissing:
		return nil // an entry exists when any field was extracted
	case ModSort:
		switch ptype {
		case "string":
			return []string{fNorm}
		case "token":
			return []string{fCode}
		case "reference":
			return []string{fRef}
		case "uri":
			return []string{fExact}
		}
		return []string{fLo, fHi}
	}
	switch ptype {
	case "string":
		return []string{fNorm, fExact}
	case "token":
		switch mod {
		case "text":
			return []string{fText}
		case "of_type":
			return []string{fTypeS, fTypeC, fCode}
		}
		return []string{fSystem, fCode}
	case "reference":
		if mod == "identifier" {
			return []string{fSystem, fCode}
		}
		return []string{fRef, fRefT, fRefID, fExact}
	case "uri":
		return []string{fExact}
	case "date", "number":
		return []string{fLo, fHi}
	case "quantity":
		return []string{fLo, fHi, fSystem, fCode, fUnit}
	case "special":
		return []string{fLat, fLon}
	}
	return nil
}

// ElementReads returns the elements of a value of type elemType that a search by a parameter
// of type ptype with modifier mod reads (ModSort when it sorts, ModMissing for :missing): paths
// relative to the value, "" for the value itself. whole is true when the search reads the whole
// value, everything below it included. A primitive value is read itself.
func ElementReads(ptype, mod, elemType string) (paths []string, whole bool) {
	if elemType != "" && elemType[0] >= 'a' && elemType[0] <= 'z' {
		return []string{""}, false
	}
	byField, ok := feeds[elemType]
	if !ok {
		return nil, true
	}
	fields := ComparedFields(ptype, mod)
	for f, ps := range byField {
		if fields == nil || slices.Contains(fields, f) {
			paths = append(paths, ps...)
		}
	}
	slices.Sort(paths)
	return slices.Compact(paths), false
}
