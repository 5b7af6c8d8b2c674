package model

import (
	"reflect"
	"strings"
	"sync"
)

var jsonFields sync.Map // reflect.Type → map[string]int

// FieldIndex returns the index of the field of model struct type t whose FHIR JSON name is name
// ("_birthDate" finds BirthDateExt). It serves code that walks resources along GraphQL
// selections, whose field names are the JSON names. Lookups are cached per type.
func FieldIndex(t reflect.Type, name string) (int, bool) {
	m, ok := jsonFields.Load(t)
	if !ok {
		idx := make(map[string]int, t.NumField())
		for i := 0; i < t.NumField(); i++ {
			tag, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			idx[tag] = i
		}
		m, _ = jsonFields.LoadOrStore(t, idx)
	}
	i, ok := m.(map[string]int)[name]
	return i, ok
}
