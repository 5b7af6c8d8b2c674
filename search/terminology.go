package search

import (
	"errors"
	"maps"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/terminology"
)

// valueSetMatch matches token entries whose coding is in the ValueSet at url, expanded by
// the terminology package. A bare code (a code element, stored without system) matches
// when the ValueSet has it in any system.
func valueSetMatch(pre, url, arg string) (bson.D, error) {
	contains, err := terminology.Default().Codes(url)
	if err != nil {
		return nil, terminologyError(arg, err)
	}
	codes := map[string][]string{}
	for _, c := range contains {
		codes[c.System] = append(codes[c.System], c.Code)
	}
	var or bson.A
	all := map[string]bool{}
	for _, sys := range slices.Sorted(maps.Keys(codes)) {
		in := bson.A{}
		for _, c := range slices.Sorted(slices.Values(codes[sys])) {
			in = append(in, c)
			all[c] = true
		}
		or = append(or, bson.D{{Key: pre + fSystem, Value: sys}, {Key: pre + fCode, Value: bson.D{{Key: "$in", Value: in}}}})
	}
	bare := bson.A{}
	for _, c := range slices.Sorted(maps.Keys(all)) {
		bare = append(bare, c)
	}
	or = append(or, bson.D{{Key: pre + fSystem, Value: ""}, {Key: pre + fCode, Value: bson.D{{Key: "$in", Value: bare}}}})
	return bson.D{{Key: "$or", Value: or}}, nil
}

// hierarchyMatch matches system|code and, in the code system's is-a hierarchy, its
// descendants (below) or ancestors (above).
func hierarchyMatch(pre, v, mod, arg string) (bson.D, error) {
	system, code, ok := strings.Cut(v, "|")
	if !ok || system == "" || code == "" {
		return nil, invalid("%s.%s takes system|code", arg, mod)
	}
	reg := terminology.Default()
	if !reg.HasHierarchy(system) {
		return nil, unsupported("%s.%s: code system %q has no hierarchy known to this server", arg, mod, system)
	}
	walk := reg.Descendants
	if mod == "above" {
		walk = reg.Ancestors
	}
	codes, err := walk(system, code)
	if err != nil {
		return nil, terminologyError(arg+"."+mod, err)
	}
	in := bson.A{}
	for _, c := range slices.Sorted(slices.Values(codes)) {
		in = append(in, c)
	}
	return bson.D{{Key: pre + fSystem, Value: system}, {Key: pre + fCode, Value: bson.D{{Key: "$in", Value: in}}}}, nil
}

// terminologyError says, as search's own error, why the terminology could not answer: a
// value set or code system the server does not have or cannot expand is unsupported.
func terminologyError(arg string, err error) error {
	if errors.Is(err, fault.Invalid) {
		return invalid("%s: %s", arg, strings.TrimPrefix(err.Error(), "terminology: "))
	}
	return unsupported("%s: cannot be expanded: %s", arg, strings.TrimPrefix(err.Error(), "terminology: "))
}
