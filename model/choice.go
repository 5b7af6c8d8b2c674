package model

import "slices"

// choiceNames holds every choice element's base name, of any type.
var choiceNames = func() map[string]bool {
	m := map[string]bool{}
	for _, bases := range choiceElements {
		for _, b := range bases {
			m[b] = true
		}
	}
	return m
}()

// ChoiceElements returns the base names of typ's choice elements (value for value[x]), sorted;
// typ is a resource, data type or backbone element type by its generated name.
func ChoiceElements(typ string) []string { return choiceElements[typ] }

// IsChoiceElement reports whether name is the base name of a choice element of typ.
func IsChoiceElement(typ, name string) bool {
	return slices.Contains(choiceElements[typ], name)
}

// IsChoiceName reports whether name is the base name of a choice element of some type. It is
// what a reader without type information can know: "deceased" is one, "birth" is not.
func IsChoiceName(name string) bool { return choiceNames[name] }
