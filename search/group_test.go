package search

import (
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/fhirgate/fhirgate/model"
)

// TestGroupStages checks the pipeline of a GroupSpec as MongoDB receives it: a projection of
// each key's distinct values ([null] when none) and each measure's point values, then one
// $facet with the total, the groups (bounded) and each measure's statistics overall and per
// group; a week bucket truncates in UTC from Monday.
func TestGroupStages(t *testing.T) {
	spec := GroupSpec{
		Keys:      []GroupKey{{Param: lookup("Observation", "code")}, {Param: lookup("Observation", "date"), Bucket: "week"}},
		Measures:  []*model.SearchParam{lookup("Observation", "value-quantity")},
		MaxGroups: 100,
	}
	stages, err := groupStages(spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(stages) != 2 || stages[0][0].Key != "$project" || stages[1][0].Key != "$facet" {
		t.Fatalf("stages %v", stages)
	}
	project := stages[0][0].Value.(bson.D)
	var fields []string
	for _, e := range project {
		fields = append(fields, e.Key)
	}
	if strings.Join(fields, ",") != "_id,k0,k1,m0" {
		t.Errorf("projected %v", fields)
	}
	facet := stages[1][0].Value.(bson.D)
	var names []string
	for _, e := range facet {
		names = append(names, e.Key)
	}
	if strings.Join(names, ",") != "total,groups,s0,g0" {
		t.Errorf("facets %v", names)
	}
	text := bsonText(t, stages)
	for _, want := range []string{`"$dateTrunc"`, `"startOfWeek":"monday"`, `"timezone":"UTC"`, `"$limit":101}`, `"$setUnion"`, `[null]`, `"$$e.p"`, `"code"`, `"value-quantity"`} {
		if !strings.Contains(text, want) {
			t.Errorf("the pipeline lacks %s:\n%s", want, text)
		}
	}
	for _, bad := range []GroupSpec{
		{Keys: []GroupKey{{Param: lookup("Observation", "code-value-quantity")}}},
		{Measures: []*model.SearchParam{lookup("Observation", "code")}},
	} {
		if _, err := groupStages(bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// TestDecodeGrouped reads an output document as MongoDB would send it.
func TestDecodeGrouped(t *testing.T) {
	spec := GroupSpec{Keys: []GroupKey{{Param: lookup("Observation", "code")}}, Measures: []*model.SearchParam{lookup("Observation", "value-quantity")}, MaxGroups: 10}
	kg := "kg"
	doc, err := bson.Marshal(bson.D{
		{Key: "total", Value: bson.A{bson.D{{Key: "n", Value: int32(3)}}}},
		{Key: "groups", Value: bson.A{
			bson.D{{Key: "_id", Value: bson.A{bson.D{{Key: "s", Value: "http://loinc.org"}, {Key: "c", Value: "1"}}}}, {Key: "n", Value: int32(2)}},
			bson.D{{Key: "_id", Value: bson.A{nil}}, {Key: "n", Value: int32(1)}},
		}},
		{Key: "s0", Value: bson.A{bson.D{{Key: "_id", Value: bson.D{{Key: "u", Value: kg}}}, {Key: "n", Value: int32(3)}, {Key: "min", Value: 1.0}, {Key: "max", Value: 5.0}, {Key: "sum", Value: 9.0}}}},
		{Key: "g0", Value: bson.A{bson.D{{Key: "_id", Value: bson.D{{Key: "k", Value: bson.A{nil}}, {Key: "u", Value: nil}}}, {Key: "n", Value: int32(1)}, {Key: "min", Value: 3.0}, {Key: "max", Value: 3.0}, {Key: "sum", Value: 3.0}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	g, err := decodeGrouped(doc, spec)
	if err != nil {
		t.Fatal(err)
	}
	if g.Total != 3 || len(g.Groups) != 2 || g.Groups[0].Keys[0].System != "http://loinc.org" || g.Groups[0].Keys[0].Code != "1" || g.Groups[0].Count != 2 || g.Groups[1].Keys[0] != nil {
		t.Errorf("groups %+v", g)
	}
	if len(g.Stats) != 2 || g.Stats[0].Grouped || *g.Stats[0].Unit != kg || g.Stats[0].Sum != 9 || !g.Stats[1].Grouped || g.Stats[1].Unit != nil || g.Stats[1].Keys[0] != nil {
		t.Errorf("stats %+v", g.Stats)
	}
	spec.MaxGroups = 1
	if _, err := decodeGrouped(doc, spec); err == nil {
		t.Error("2 groups of at most 1: no error")
	}
}

func bsonText(t *testing.T, stages []bson.D) string {
	t.Helper()
	var parts []string
	for _, st := range stages {
		b, err := bson.MarshalExtJSON(st, false, false)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, string(b))
	}
	return strings.Join(parts, "\n")
}
