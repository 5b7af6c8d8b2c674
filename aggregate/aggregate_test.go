package aggregate

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/fhirpath"
	"github.com/fhirgate/fhirgate/search"
)

// TestPercentile checks the exact method on values whose percentiles are known by hand.
func TestPercentile(t *testing.T) {
	vals := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct{ p, want float64 }{{0, 1}, {100, 10}, {50, 5.5}, {25, 3.25}, {90, 9.1}, {99, 9.91}} {
		if got := percentile(vals, c.p); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if got := percentile([]float64{7}, 30); got != 7 {
		t.Errorf("one value: %v", got)
	}
}

// TestSketchAccuracy: on 200,000 values spread over six orders of magnitude, negatives and zeros
// included, every percentile the sketch gives is within SketchAccuracy of the exact value at
// the same rank.
func TestSketchAccuracy(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	sk := newSketch()
	var vals []float64
	for i := range 200_000 {
		v := math.Exp(r.NormFloat64()*3) * 10
		switch i % 50 {
		case 0:
			v = 0
		case 1:
			v = -v
		}
		vals = append(vals, v)
		sk.add(v)
	}
	slices.Sort(vals)
	checked := 0
	for q := 0.0; q <= 1.0001; q += 0.01 {
		q = math.Min(q, 1)
		exact := vals[int(math.Floor(q*float64(len(vals)-1)))]
		got := sk.quantile(q)
		if math.Abs(got-exact) > SketchAccuracy*math.Abs(exact)+1e-12 {
			t.Errorf("q%.2f: sketch %v, exact %v", q, got, exact)
		}
		checked++
	}
	if len(sk.pos)+len(sk.neg) > 3000 {
		t.Errorf("the sketch holds %d buckets", len(sk.pos)+len(sk.neg))
	}
	t.Logf("checked %d quantiles; %d buckets for %d values", checked, len(sk.pos)+len(sk.neg), len(vals))
}

// TestBudgetSwitchesToSketch: past the values budget, summaries go on as sketches, their
// percentiles within the sketch's accuracy and their other statistics exact.
func TestBudgetSwitchesToSketch(t *testing.T) {
	m := Measure{Name: "v", Expr: fhirpath.MustCompile("value.ofType(Quantity)"), Percentiles: []float64{50, 95}}
	req := &Request{Query: mustQuery(t, "Observation"), Measures: []Measure{m}}
	g := newGrouper(req, 10, 1000)
	var vals []float64
	for i := range 10_000 {
		v := float64(i%997) + 0.5
		vals = append(vals, v)
		if err := g.add(map[string]any{"resourceType": "Observation", "valueQuantity": map[string]any{"value": jsonNumber(v)}}); err != nil {
			t.Fatal(err)
		}
	}
	s := g.result().Stats[0]
	slices.Sort(vals)
	if s.Count != 10_000 || s.Min != 0.5 || s.Max != 996.5 || g.totals.byMeasure[0][""].sketch == nil {
		t.Fatalf("%+v (sketch %v)", s, g.totals.byMeasure[0][""].sketch != nil)
	}
	for i, p := range m.Percentiles {
		exact := vals[int(math.Floor(p/100*float64(len(vals)-1)))]
		if math.Abs(s.Percentiles[i]-exact) > SketchAccuracy*exact {
			t.Errorf("p%v: %v, exact %v", p, s.Percentiles[i], exact)
		}
	}
}

// TestTooManyGroups: the stream plan's groups are bounded.
func TestTooManyGroups(t *testing.T) {
	req := &Request{Query: mustQuery(t, "Patient"), Keys: []Key{{Name: "id", Expr: fhirpath.MustCompile("id")}}}
	g := newGrouper(req, 3, 10)
	var err error
	for i := 0; i < 4 && err == nil; i++ {
		err = g.add(map[string]any{"resourceType": "Patient", "id": strconv.Itoa(i)})
	}
	if !errors.Is(err, ErrTooMany) {
		t.Errorf("4 groups of at most 3: %v", err)
	}
}

// TestRenderInstant checks the bucket names, ISO weeks across years included.
func TestRenderInstant(t *testing.T) {
	at := func(s string) int64 {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.UnixMilli()
	}
	for _, c := range []struct {
		at   string
		b    Bucket
		want string
	}{
		{"2021-01-03T23:00:00Z", Week, "2020-W53"},
		{"2021-01-04T00:00:00Z", Week, "2021-W01"},
		{"2024-12-30T12:00:00Z", Week, "2025-W01"},
		{"2024-02-29T23:59:59Z", Day, "2024-02-29"},
		{"2024-02-29T23:59:59-05:00", Day, "2024-03-01"},
		{"2024-02-29T10:00:00Z", Month, "2024-02"},
		{"1974-12-25T14:35:45-05:00", Year, "1974"},
		{"1974-12-25T14:35:45-05:00", "", "1974-12-25T19:35:45Z"},
		{"2020-01-01T00:00:00.250Z", "", "2020-01-01T00:00:00.250Z"},
	} {
		if got := renderInstant(at(c.at), c.b); got != c.want {
			t.Errorf("%s by %q: %s, want %s", c.at, c.b, got, c.want)
		}
	}
}

// TestFromGroupedMatchesStream: the pipeline plan's rows, rendered, give what the stream plan
// gives for the same resources (keys rendered alike, statistics per unit merged).
func TestFromGroupedMatchesStream(t *testing.T) {
	code := search.ParamOf("Observation", "code")
	vq := search.ParamOf("Observation", "value_quantity")
	req := &Request{Query: mustQuery(t, "Observation"), Keys: []Key{{Name: "code", Param: code}}, Measures: []Measure{{Name: "vq", Param: vq}}}
	kg := "kg"
	loinc := func(c string) *search.Indexed { return &search.Indexed{System: "http://loinc.org", Code: c} }
	g := &search.Grouped{Total: 3,
		Groups: []search.GroupRow{{Keys: []*search.Indexed{loinc("1")}, Count: 2}, {Keys: []*search.Indexed{nil}, Count: 1}},
		Stats: []search.StatsRow{
			{Measure: 0, Unit: &kg, Count: 3, Min: 1, Max: 5, Sum: 9},
			{Grouped: true, Keys: []*search.Indexed{loinc("1")}, Measure: 0, Unit: &kg, Count: 2, Min: 1, Max: 5, Sum: 6},
			{Grouped: true, Keys: []*search.Indexed{nil}, Measure: 0, Unit: &kg, Count: 1, Min: 3, Max: 3, Sum: 3},
		}}
	res, err := fromGrouped(g, req, 10)
	if err != nil {
		t.Fatal(err)
	}
	stream := newGrouper(req, 10, 10)
	for _, o := range []map[string]any{
		{"resourceType": "Observation", "code": map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "1"}}}, "valueQuantity": map[string]any{"value": jsonNumber(1), "code": "kg"}},
		{"resourceType": "Observation", "code": map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "1"}}}, "valueQuantity": map[string]any{"value": jsonNumber(5), "code": "kg"}},
		{"resourceType": "Observation", "valueQuantity": map[string]any{"value": jsonNumber(3), "code": "kg"}},
	} {
		if err := stream.add(o); err != nil {
			t.Fatal(err)
		}
	}
	want, _ := finish(stream.result(), req)
	got, _ := finish(res, req)
	if len(got.Groups) != 2 || *got.Groups[0].Key[0] != "http://loinc.org|1" || got.Groups[1].Key[0] != nil {
		t.Fatalf("groups %+v", got.Groups)
	}
	for i := range want.Groups {
		w, g := want.Groups[i], got.Groups[i]
		if compareKeys(w.Key, g.Key) != 0 || w.Count != g.Count || len(w.Stats) != 1 || len(g.Stats) != 1 || w.Stats[0].Sum != g.Stats[0].Sum || w.Stats[0].Min != g.Stats[0].Min {
			t.Errorf("group %d: pipeline %+v, stream %+v", i, g, w)
		}
	}
	if got.Count != want.Count || got.Stats[0].Sum != want.Stats[0].Sum || *got.Stats[0].Unit != "kg" || got.Stats[0].Count != 3 {
		t.Errorf("totals: pipeline %+v, stream %+v", got, want)
	}
}

func mustQuery(t *testing.T, typ string) *search.Query {
	t.Helper()
	q, err := search.Parse(typ, nil)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func jsonNumber(f float64) any { return json.Number(strconv.FormatFloat(f, 'f', -1, 64)) }
