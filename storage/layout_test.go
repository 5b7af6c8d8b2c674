package storage

import (
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/fhirgate/fhirgate/storage/layout"
)

// TestLayoutTags: the struct tags of the stored search fields spell package layout's
// names, which search's filters, the matcher and the SQLite index read; struct tags
// cannot name constants, so this test ties them together.
func TestLayoutTags(t *testing.T) {
	doc := currentDoc{Key: "a", IndexFields: IndexFields{Entries: bson.A{1}, Asc: bson.D{{Key: "x", Value: 1}}, Desc: bson.D{{Key: "x", Value: 1}}}, IX: []byte{1}, IJ: "[]", IV: "1"}
	raw, err := bson.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	elems, err := bson.Raw(raw).Elements()
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range elems {
		keys = append(keys, e.Key())
	}
	want := []string{layout.Entries, layout.Asc, layout.Desc, layout.Packed, layout.EntriesJSON, layout.Version}
	for _, k := range want {
		if !slices.Contains(keys, k) {
			t.Errorf("stored current document has fields %v, none named %q", keys, k)
		}
	}
	t.Logf("checked %d layout fields", len(want))
}
