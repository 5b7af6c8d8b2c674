package aggregate

import (
	"math"
	"slices"
)

// SketchAccuracy is the relative accuracy of the percentiles of a summary that holds more
// values than the exact method may keep: each is within 1% of a value at the requested rank.
const SketchAccuracy = 0.01

// budget is the number of values the exact percentiles of all summaries may still hold.
type budget struct{ left int }

// summaries are the running statistics of each measure, by unit.
type summaries struct {
	byMeasure []map[string]*summary
	wants     []bool // the measure asks for percentiles
	budget    *budget
}

func newSummaries(ms []Measure, b *budget) summaries {
	s := summaries{byMeasure: make([]map[string]*summary, len(ms)), wants: make([]bool, len(ms)), budget: b}
	for i, m := range ms {
		s.byMeasure[i] = map[string]*summary{}
		s.wants[i] = len(m.Percentiles) > 0
	}
	return s
}

// add adds the values of measure i.
func (s summaries) add(i int, vs []measured) {
	for _, v := range vs {
		sm := s.byMeasure[i][v.unit]
		if sm == nil {
			sm = &summary{keep: s.wants[i], min: math.Inf(1), max: math.Inf(-1)}
			s.byMeasure[i][v.unit] = sm
		}
		sm.add(v.v, s.budget)
	}
}

// stats returns the statistics of every measure and unit: measures in order, units sorted
// (plain numbers first).
func (s summaries) stats(ms []Measure) []Stats {
	out := []Stats{}
	for i, m := range ms {
		units := make([]string, 0, len(s.byMeasure[i]))
		for u := range s.byMeasure[i] {
			units = append(units, u)
		}
		slices.Sort(units)
		for _, u := range units {
			out = append(out, s.byMeasure[i][u].stats(m, u))
		}
	}
	return out
}

// summary is the running statistics of one measure with one unit.
type summary struct {
	count    int64
	min, max float64
	sum, c   float64 // Neumaier's compensated sum and its compensation
	keep     bool    // percentiles are asked for
	vals     []float64
	sketch   *sketch
}

func (s *summary) add(v float64, b *budget) {
	s.count++
	s.min, s.max = min(s.min, v), max(s.max, v)
	t := s.sum + v
	if math.Abs(s.sum) >= math.Abs(v) {
		s.c += (s.sum - t) + v
	} else {
		s.c += (v - t) + s.sum
	}
	s.sum = t
	if !s.keep {
		return
	}
	if s.sketch != nil {
		s.sketch.add(v)
		return
	}
	if b.left == 0 {
		// The budget is spent: this summary goes on as a sketch, and frees its values.
		s.sketch = newSketch()
		for _, x := range s.vals {
			s.sketch.add(x)
		}
		s.sketch.add(v)
		b.left += len(s.vals)
		s.vals = nil
		return
	}
	b.left--
	s.vals = append(s.vals, v)
}

// merge adds the statistics of o (a pipeline's rows of one group and unit, which hold no
// values for percentiles).
func (s *summary) merge(o *summary) {
	s.count += o.count
	s.min, s.max = min(s.min, o.min), max(s.max, o.max)
	s.sum += o.sum + o.c
}

func (s *summary) stats(m Measure, unit string) Stats {
	out := Stats{Name: m.Name, Count: s.count, Min: s.min, Max: s.max, Sum: s.sum + s.c}
	if unit != "" {
		out.Unit = &unit
	}
	if len(m.Percentiles) > 0 {
		out.Percentiles = make([]float64, len(m.Percentiles))
		if s.sketch == nil {
			slices.Sort(s.vals)
		}
		for i, p := range m.Percentiles {
			if s.sketch != nil {
				out.Percentiles[i] = s.sketch.quantile(p / 100)
			} else {
				out.Percentiles[i] = percentile(s.vals, p)
			}
		}
	}
	return out
}

// percentile is the p-th percentile (0 to 100) of sorted, by linear interpolation between the
// closest ranks: rank h = (n-1)·p/100, value x[⌊h⌋] + (h-⌊h⌋)·(x[⌊h⌋+1]-x[⌊h⌋]).
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	h := float64(len(sorted)-1) * p / 100
	lo := int(math.Floor(h))
	if lo >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	return sorted[lo] + (h-float64(lo))*(sorted[lo+1]-sorted[lo])
}

// sketch estimates quantiles within SketchAccuracy, relative (DDSketch, Masson, Rim and Lee,
// VLDB 2019): values fall into buckets whose bounds grow geometrically by γ = (1+α)/(1-α), and a
// quantile answers the midpoint of its bucket. Its size grows with the logarithm of the values'
// range (a few thousand buckets from 1e-9 to 1e12), not with their number.
type sketch struct {
	pos, neg map[int]int64
	zero     int64
	n        int64
	min, max float64
}

var (
	gamma   = (1 + SketchAccuracy) / (1 - SketchAccuracy)
	lnGamma = math.Log(gamma)
)

// tiny is the magnitude under which a value counts as zero.
const tiny = 1e-300

func newSketch() *sketch {
	return &sketch{pos: map[int]int64{}, neg: map[int]int64{}, min: math.Inf(1), max: math.Inf(-1)}
}

func bucketOf(x float64) int { return int(math.Ceil(math.Log(x) / lnGamma)) }

func bucketValue(k int) float64 { return 2 * math.Pow(gamma, float64(k)) / (gamma + 1) }

func (s *sketch) add(x float64) {
	s.n++
	s.min, s.max = min(s.min, x), max(s.max, x)
	switch {
	case x > tiny:
		s.pos[bucketOf(x)]++
	case x < -tiny:
		s.neg[bucketOf(-x)]++
	default:
		s.zero++
	}
}

// quantile returns the value at rank ⌊q·(n-1)⌋, within the sketch's accuracy.
func (s *sketch) quantile(q float64) float64 {
	rank := int64(math.Floor(q * float64(s.n-1)))
	var seen int64
	clamp := func(v float64) float64 { return min(max(v, s.min), s.max) }
	negs := sortedKeys(s.neg)
	slices.Reverse(negs) // the most negative first
	for _, k := range negs {
		if seen += s.neg[k]; seen > rank {
			return clamp(-bucketValue(k))
		}
	}
	if seen += s.zero; seen > rank {
		return clamp(0)
	}
	for _, k := range sortedKeys(s.pos) {
		if seen += s.pos[k]; seen > rank {
			return clamp(bucketValue(k))
		}
	}
	return s.max
}

func sortedKeys(m map[int]int64) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
