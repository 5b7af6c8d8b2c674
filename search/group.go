package search

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/storage"
)

// Pipeliner runs aggregation pipelines over a datastore's search index; *storage.Store is one.
// Its methods behave as the storage methods of the same names document.
type Pipeliner interface {
	Pipelines() bool
	Aggregate(ctx context.Context, typ string, filter bson.D, stages []bson.D, each func(bson.Raw) error) error
}

var _ Pipeliner = (*storage.Store)(nil)

// GroupSpec asks for the matches of a search counted by the values parameters index, and for
// statistics, per unit, of the values number and quantity parameters index.
type GroupSpec struct {
	// Keys are the grouping parameters; none counts all matches as one group.
	Keys []GroupKey
	// Measures are number or quantity parameters.
	Measures []*model.SearchParam
	// MaxGroups bounds the groups (key tuples) the engine may return; more is ErrTooMany.
	MaxGroups int
}

// GroupKey is a grouping parameter: its values group as they are indexed, a date's by the start
// of its range, truncated to Bucket when given ("day", "week" from Monday, "month", "year", in
// UTC).
type GroupKey struct {
	Param  *model.SearchParam
	Bucket string
}

// Grouped is what the engine computed for a GroupSpec.
type Grouped struct {
	// Total is how many resources match.
	Total int64
	// Groups are the key tuples and how many matches have each: a resource with several
	// values of a key is counted in each of their groups, one with none has a nil key.
	Groups []GroupRow
	// Stats summarise the measures' values: over all matches (Keys nil), and per group.
	Stats []StatsRow
}

// GroupRow is one group: a value (nil: none) of each key, and how many matches have them.
type GroupRow struct {
	Keys  []*Indexed
	Count int64
}

// StatsRow summarises the values of one measure with one unit, over all matches (Keys nil)
// or within one group. Unit is the quantity's unit code, else its unit text; nil for numbers.
type StatsRow struct {
	Keys          []*Indexed
	Grouped       bool
	Measure       int
	Unit          *string
	Count         int64
	Min, Max, Sum float64
}

// Group computes spec over the matches of q in the engine's aggregation pipeline (MongoDB), in
// one round trip. ok is false, with nothing computed, when the engine runs no pipeline (the
// embedded engine, or a server lacking an operator): the caller then streams the matches. q's
// fhirpath argument cannot run in a pipeline: its presence is an error.
func (r *Runner) Group(ctx context.Context, p Pipeliner, q *Query, spec GroupSpec) (g *Grouped, ok bool, err error) {
	if p == nil || !p.Pipelines() {
		return nil, false, nil
	}
	if q.FHIRPath != "" {
		return nil, false, fmt.Errorf("search: group: a fhirpath argument cannot run in a pipeline")
	}
	f, err := r.filter(ctx, q)
	if err != nil {
		return nil, false, err
	}
	stages, err := groupStages(spec)
	if err != nil {
		return nil, false, err
	}
	err = p.Aggregate(ctx, q.Type, f, stages, func(doc bson.Raw) error {
		g, err = decodeGrouped(doc, spec)
		return err
	})
	if errors.Is(err, storage.ErrNoPipeline) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if g == nil {
		g = &Grouped{}
	}
	return g, true, nil
}

// The output fields of the pipeline's projection: k0, k1, ... the keys' values, m0, m1, ...
// the measures'.
func keyField(i int) string     { return "k" + strconv.Itoa(i) }
func measureField(i int) string { return "m" + strconv.Itoa(i) }

// groupStages returns the pipeline of spec, after the match: a projection of each match's key
// values (distinct, [null] when none) and measure values, then one $facet of the total, the
// groups, and per measure its statistics overall and per group.
func groupStages(spec GroupSpec) ([]bson.D, error) {
	project := bson.D{{Key: "_id", Value: 0}}
	for i, k := range spec.Keys {
		e, err := keyValues(k)
		if err != nil {
			return nil, err
		}
		project = append(project, bson.E{Key: keyField(i), Value: e})
	}
	for i, m := range spec.Measures {
		if m.Type != "number" && m.Type != "quantity" {
			return nil, fmt.Errorf("%w: %s is a %s parameter; measures take number and quantity parameters", ErrInvalid, ArgName(m.Code), m.Type)
		}
		project = append(project, bson.E{Key: measureField(i), Value: measureValues(m)})
	}
	limit := int64(spec.MaxGroups) + 1
	var unwindKeys, keyTuple bson.A
	for i := range spec.Keys {
		unwindKeys = append(unwindKeys, bson.D{{Key: "$unwind", Value: "$" + keyField(i)}})
		keyTuple = append(keyTuple, "$"+keyField(i))
	}
	facets := bson.D{{Key: "total", Value: bson.A{bson.D{{Key: "$count", Value: "n"}}}}}
	if len(spec.Keys) > 0 {
		groups := append(bson.A{}, unwindKeys...)
		groups = append(groups,
			bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: keyTuple}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}}}},
			bson.D{{Key: "$limit", Value: limit}})
		facets = append(facets, bson.E{Key: "groups", Value: groups})
	}
	for i := range spec.Measures {
		m := "$" + measureField(i)
		stats := func(id any) bson.D {
			return bson.D{{Key: "$group", Value: bson.D{
				{Key: "_id", Value: id},
				{Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}},
				{Key: "min", Value: bson.D{{Key: "$min", Value: m + ".v"}}},
				{Key: "max", Value: bson.D{{Key: "$max", Value: m + ".v"}}},
				{Key: "sum", Value: bson.D{{Key: "$sum", Value: m + ".v"}}},
			}}}
		}
		overall := bson.A{bson.D{{Key: "$unwind", Value: m}}, stats(bson.D{{Key: "u", Value: m + ".u"}})}
		facets = append(facets, bson.E{Key: "s" + strconv.Itoa(i), Value: overall})
		if len(spec.Keys) > 0 {
			perGroup := append(bson.A{}, unwindKeys...)
			perGroup = append(perGroup, bson.D{{Key: "$unwind", Value: m}},
				stats(bson.D{{Key: "k", Value: keyTuple}, {Key: "u", Value: m + ".u"}}),
				bson.D{{Key: "$limit", Value: limit * 16}})
			facets = append(facets, bson.E{Key: "g" + strconv.Itoa(i), Value: perGroup})
		}
	}
	return []bson.D{{{Key: "$project", Value: project}}, {{Key: "$facet", Value: facets}}}, nil
}

// entriesOf is the expression of a match's index entries of parameter code that hold field.
func entriesOf(code, field string) bson.D {
	return bson.D{{Key: "$filter", Value: bson.D{
		{Key: "input", Value: bson.D{{Key: "$ifNull", Value: bson.A{"$" + FieldIndex, bson.A{}}}}},
		{Key: "as", Value: "e"},
		{Key: "cond", Value: bson.D{{Key: "$and", Value: bson.A{
			bson.D{{Key: "$eq", Value: bson.A{"$$e." + fParam, code}}},
			bson.D{{Key: "$ne", Value: bson.A{bson.D{{Key: "$type", Value: "$$e." + field}}, "missing"}}},
		}}}},
	}}}
}

// keyValues is the expression of a match's distinct values of key k, [null] when it has none:
// each a document of the entry fields the parameter's type groups on.
func keyValues(k GroupKey) (bson.D, error) {
	p := k.Param
	var present string
	var fields bson.D
	pick := func(names ...string) {
		for _, n := range names {
			fields = append(fields, bson.E{Key: n, Value: "$$e." + n})
		}
	}
	switch p.Type {
	case "token":
		present = fCode
		pick(fSystem, fCode)
	case "string", "uri":
		present = fExact
		pick(fExact)
	case "reference":
		present = fParam // a reference entry holds r, or an identifier's s and c
		pick(fRef, fSystem, fCode)
	case "number":
		present = fLo
		pick(fLo)
	case "quantity":
		present = fLo
		pick(fLo, fCode, fUnit)
	case "date":
		present = fLo
		if k.Bucket == "" {
			pick(fLo)
			break
		}
		trunc := bson.D{{Key: "date", Value: bson.D{{Key: "$toDate", Value: "$$e." + fLo}}}, {Key: "unit", Value: k.Bucket}, {Key: "timezone", Value: "UTC"}}
		if k.Bucket == "week" {
			trunc = append(trunc, bson.E{Key: "startOfWeek", Value: "monday"})
		}
		fields = bson.D{{Key: fLo, Value: bson.D{{Key: "$toLong", Value: bson.D{{Key: "$dateTrunc", Value: trunc}}}}}}
	default:
		return nil, fmt.Errorf("%w: cannot group by %s, a %s parameter", ErrInvalid, ArgName(p.Code), p.Type)
	}
	values := bson.D{{Key: "$setUnion", Value: bson.A{bson.D{{Key: "$map", Value: bson.D{
		{Key: "input", Value: entriesOf(p.Code, present)},
		{Key: "as", Value: "e"},
		{Key: "in", Value: fields},
	}}}}}}
	return bson.D{{Key: "$cond", Value: bson.A{
		bson.D{{Key: "$eq", Value: bson.A{bson.D{{Key: "$size", Value: values}}, 0}}},
		bson.A{nil},
		values,
	}}}, nil
}

// measureValues is the expression of a match's values of a number or quantity parameter, each
// {v: value, u: unit code, else unit text, else null}; ranges are left out.
func measureValues(p *model.SearchParam) bson.D {
	entries := bson.D{{Key: "$filter", Value: bson.D{
		{Key: "input", Value: entriesOf(p.Code, fLo)},
		{Key: "as", Value: "e"},
		{Key: "cond", Value: bson.D{{Key: "$eq", Value: bson.A{"$$e." + fLo, "$$e." + fHi}}}},
	}}}
	nonEmpty := func(f string) bson.D {
		return bson.D{{Key: "$gt", Value: bson.A{bson.D{{Key: "$strLenCP", Value: bson.D{{Key: "$ifNull", Value: bson.A{"$$e." + f, ""}}}}}, 0}}}
	}
	unit := bson.D{{Key: "$cond", Value: bson.A{nonEmpty(fCode), "$$e." + fCode,
		bson.D{{Key: "$cond", Value: bson.A{nonEmpty(fUnit), "$$e." + fUnit, nil}}}}}}
	return bson.D{{Key: "$map", Value: bson.D{
		{Key: "input", Value: entries},
		{Key: "as", Value: "e"},
		{Key: "in", Value: bson.D{{Key: "v", Value: "$$e." + fLo}, {Key: "u", Value: unit}}},
	}}}
}

// groupedDoc is the pipeline's one output document.
type groupedDoc struct {
	Total  []struct{ N int64 } `bson:"total"`
	Groups []struct {
		ID []bson.RawValue `bson:"_id"`
		N  int64           `bson:"n"`
	} `bson:"groups"`
}

type statsDoc struct {
	ID struct {
		K []bson.RawValue `bson:"k"`
		U *string         `bson:"u"`
	} `bson:"_id"`
	N   int64   `bson:"n"`
	Min float64 `bson:"min"`
	Max float64 `bson:"max"`
	Sum float64 `bson:"sum"`
}

// decodeGrouped reads the pipeline's output document.
func decodeGrouped(doc bson.Raw, spec GroupSpec) (*Grouped, error) {
	var d groupedDoc
	if err := bson.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("search: group: %w", err)
	}
	g := &Grouped{}
	if len(d.Total) > 0 {
		g.Total = d.Total[0].N
	}
	if spec.MaxGroups > 0 && len(d.Groups) > spec.MaxGroups {
		return nil, fmt.Errorf("%w: more than %d groups", ErrTooMany, spec.MaxGroups)
	}
	for _, row := range d.Groups {
		keys, err := decodeKeys(row.ID)
		if err != nil {
			return nil, err
		}
		g.Groups = append(g.Groups, GroupRow{Keys: keys, Count: row.N})
	}
	for i := range spec.Measures {
		for _, grouped := range []bool{false, true} {
			name := "s" + strconv.Itoa(i)
			if grouped {
				if len(spec.Keys) == 0 {
					continue
				}
				name = "g" + strconv.Itoa(i)
			}
			arr, ok := doc.Lookup(name).ArrayOK()
			if !ok {
				continue
			}
			vals, _ := arr.Values()
			if grouped && spec.MaxGroups > 0 && len(vals) > 16*(spec.MaxGroups+1) {
				return nil, fmt.Errorf("%w: more than %d groups and units", ErrTooMany, 16*spec.MaxGroups)
			}
			for _, v := range vals {
				var s statsDoc
				if err := v.Unmarshal(&s); err != nil {
					return nil, fmt.Errorf("search: group: %w", err)
				}
				row := StatsRow{Grouped: grouped, Measure: i, Unit: s.ID.U, Count: s.N, Min: s.Min, Max: s.Max, Sum: s.Sum}
				if grouped {
					keys, err := decodeKeys(s.ID.K)
					if err != nil {
						return nil, err
					}
					row.Keys = keys
				}
				g.Stats = append(g.Stats, row)
			}
		}
	}
	return g, nil
}

// decodeKeys reads a group's key tuple: each value an entry-like document, or null.
func decodeKeys(raw []bson.RawValue) ([]*Indexed, error) {
	out := make([]*Indexed, len(raw))
	for i, v := range raw {
		if v.Type == bson.TypeNull {
			continue
		}
		var e bson.D
		if err := v.Unmarshal(&e); err != nil {
			return nil, fmt.Errorf("search: group key: %w", err)
		}
		x := indexedOf(e)
		out[i] = &x
	}
	return out, nil
}
