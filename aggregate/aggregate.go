// Package aggregate counts and summarises the resources a search matches: the GraphQL field
// aggregate. Matches are grouped by search parameters (by the values the search index holds
// for them, as searching by them compares) or by FHIRPath expressions, dates by day, week,
// month or year; statistics (count, min, max, mean, sum, percentiles) summarise numbers and
// quantities, per unit.
//
// A Runner chooses one of three plans:
//   - count: no groups and no measures: the engine counts the matches (an index count on the
//     embedded engine when the filter allows, a count command on MongoDB);
//   - pipeline: on MongoDB, when every key and measure is a search parameter and no percentile
//     or fhirpath argument is asked for, one aggregation pipeline over the search index
//     computes everything in the database (search.Runner.Group), and only groups come back;
//   - stream: otherwise (the embedded engine always), the matches are streamed a bounded batch
//     at a time (storage.Store.Each: through the embedded engine's SQLite index when the
//     filter is selective, one pass over the collection otherwise) and grouped here with
//     bounded state: at most MaxGroups
//     groups, at most MaxTuples groups per resource, and at most MaxValues values held for exact
//     percentiles, beyond which each summary switches to a sketch whose quantiles are within
//     SketchAccuracy (relative) of the exact ones.
//
// Semantics, the same on every plan: a resource with several values of a key counts once in
// each of their groups (so group counts may add up to more than count), a resource with none in
// the group whose key is null; each value of a measure counts in its unit's statistics (a
// quantity's UCUM code, else its unit text; none for plain numbers), ranges left out. Dates
// group by the start of their range in UTC; without a bucket, by that instant. Percentiles are
// exact by linear interpolation between the closest ranks (as numpy's default and Excel's
// PERCENTILE.INC), until the sketch takes over.
package aggregate

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/fhirpath"
	"github.com/fhirgate/fhirgate/internal/jsontree"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
)

// Bounds of the stream plan's state.
const (
	// MaxGroups is the most groups an aggregate may have: more is a TooMany error that asks
	// for coarser keys (a date bucket) or a narrower search.
	MaxGroups = 10_000
	// MaxTuples is the most groups one resource may fall in (the product of its numbers of
	// values of each key).
	MaxTuples = 1_000
	// MaxValues is the most values held, over all summaries, for exact percentiles (8 MB).
	MaxValues = 1_000_000
)

// ErrInvalid is the error of an aggregate asked wrongly; ErrTooMany of one whose groups or
// values exceed the bounds.
var (
	ErrInvalid = fault.New(fault.Invalid, "invalid aggregate")
	ErrTooMany = fault.New(fault.TooMany, "aggregate too large")
	// ErrSmallCell refuses an aggregate whose matches are fewer than the caller's minimum cell
	// size: even their count would single people out.
	ErrSmallCell = fault.New(fault.Forbidden, "too few resources to report")
)

// Bucket is the date bucket of a grouping key.
type Bucket string

// The date buckets. Weeks start on Monday and are named by ISO 8601 week (2024-W05).
const (
	Day   Bucket = "day"
	Week  Bucket = "week"
	Month Bucket = "month"
	Year  Bucket = "year"
)

// Key is one grouping key: a search parameter of the aggregated type, or a FHIRPath expression
// on each resource.
type Key struct {
	Name   string
	Param  *model.SearchParam
	Expr   *fhirpath.Expr
	Bucket Bucket
}

// Measure is one summarised value: a number or quantity search parameter, or a FHIRPath
// expression giving numbers or quantities (other values are left out).
type Measure struct {
	Name        string
	Param       *model.SearchParam
	Expr        *fhirpath.Expr
	Percentiles []float64 // each from 0 to 100
}

// Request is one aggregate.
type Request struct {
	// Query selects the resources; its paging and sorting arguments are refused.
	Query    *search.Query
	Keys     []Key
	Measures []Measure
	// MinCell, when positive, leaves out the groups of fewer resources (counted in
	// Result.Suppressed), and refuses an aggregate of fewer matches (but none) with
	// ErrSmallCell.
	MinCell int
}

// Stats summarise the values of one measure with one unit.
type Stats struct {
	Name        string
	Unit        *string
	Count       int64
	Min, Max    float64
	Sum         float64
	Percentiles []float64 // in the order asked
}

// Mean is the values' mean.
func (s *Stats) Mean() float64 { return s.Sum / float64(s.Count) }

// Group is the resources with one value of each key (nil: none).
type Group struct {
	Key   []*string
	Count int64
	Stats []Stats
}

// Result is an aggregate's answer.
type Result struct {
	Count int64
	Stats []Stats
	// Groups, by descending count, then key.
	Groups []Group
	// Suppressed counts the groups left out for the minimum cell size.
	Suppressed int
	// Plan names the plan that ran: "count", "pipeline" or "stream".
	Plan string
}

// Streamer streams the current resources of a type that match a filter, a bounded batch in
// memory at a time, in no particular order; *storage.Store is one (see its Each).
type Streamer interface {
	Each(ctx context.Context, typ string, filter search.Filter, since time.Time, each func(*storage.Record) error) error
}

// Runner runs aggregates over one datastore.
type Runner struct {
	// Search counts the matches and runs the filter's sub-searches.
	Search *search.Runner
	// Stream reads the matches of the stream plan.
	Stream Streamer
	// Pipelines, when the engine has them (MongoDB), runs the pipeline plan; nil never does.
	Pipelines search.Pipeliner
	// MaxGroups and MaxValues override the package's bounds when positive (tests).
	MaxGroups, MaxValues int
}

// Validate checks req's shape, whatever the data: one of param and fhirpath per key and
// measure, a groupable parameter, buckets on dates, measures on numbers and quantities,
// percentiles from 0 to 100, no paging or sorting argument.
func Validate(req *Request) error {
	q := req.Query
	if q.Count != nil || q.Offset != 0 || len(q.Sort) > 0 || q.Cursor != "" || q.Total != "" {
		return fmt.Errorf("%w: an aggregate covers every match: where takes no _count, _offset, _sort, _cursor or _total", ErrInvalid)
	}
	for _, k := range req.Keys {
		if (k.Param == nil) == (k.Expr == nil) {
			return fmt.Errorf("%w: group key %q: give one of param and fhirpath", ErrInvalid, k.Name)
		}
		if p := k.Param; p != nil {
			switch p.Type {
			case "composite", "special":
				return fmt.Errorf("%w: group key %q: cannot group by a %s parameter", ErrInvalid, k.Name, p.Type)
			}
			if k.Bucket != "" && p.Type != "date" {
				return fmt.Errorf("%w: group key %q: a bucket applies to a date parameter; %s is a %s parameter", ErrInvalid, k.Name, search.ArgName(p.Code), p.Type)
			}
		}
	}
	for _, m := range req.Measures {
		if (m.Param == nil) == (m.Expr == nil) {
			return fmt.Errorf("%w: measure %q: give one of param and fhirpath", ErrInvalid, m.Name)
		}
		if p := m.Param; p != nil && p.Type != "number" && p.Type != "quantity" {
			return fmt.Errorf("%w: measure %q: %s is a %s parameter; measures take number and quantity parameters", ErrInvalid, m.Name, search.ArgName(p.Code), p.Type)
		}
		for _, pc := range m.Percentiles {
			if !(pc >= 0 && pc <= 100) {
				return fmt.Errorf("%w: measure %q: percentile %v is not between 0 and 100", ErrInvalid, m.Name, pc)
			}
		}
	}
	if req.MinCell < 0 {
		return fmt.Errorf("%w: minimum cell size %d", ErrInvalid, req.MinCell)
	}
	return nil
}

// Run computes req (see the package documentation for the plans), checked with Validate. The
// caller authorises it first: the search, and every key and measure, for the caller.
func (r *Runner) Run(ctx context.Context, req *Request) (*Result, error) {
	if err := Validate(req); err != nil {
		return nil, err
	}
	var res *Result
	var err error
	switch {
	case len(req.Keys) == 0 && len(req.Measures) == 0 && req.Query.FHIRPath == "":
		var n int64
		n, err = r.Search.ScanCount(ctx, req.Query, nil)
		res = &Result{Count: n, Plan: "count"}
	case r.pipelined(req):
		res, err = r.pipeline(ctx, req)
		if res == nil && err == nil {
			res, err = r.stream(ctx, req) // the engine refused the pipeline
		}
	default:
		res, err = r.stream(ctx, req)
	}
	if err != nil {
		return nil, err
	}
	return finish(res, req)
}

func (r *Runner) maxGroups() int {
	if r.MaxGroups > 0 {
		return r.MaxGroups
	}
	return MaxGroups
}

func (r *Runner) maxValues() int {
	if r.MaxValues > 0 {
		return r.MaxValues
	}
	return MaxValues
}

// stream runs the stream plan.
func (r *Runner) stream(ctx context.Context, req *Request) (*Result, error) {
	var keep *fhirpath.Expr
	if req.Query.FHIRPath != "" {
		var err error
		if keep, err = fhirpath.Compile(req.Query.FHIRPath); err != nil {
			return nil, fmt.Errorf("%w: fhirpath: %w", ErrInvalid, err)
		}
	}
	f, err := req.Query.Filter(ctx, search.StoreFinder{Store: r.Search.Store})
	if err != nil {
		return nil, err
	}
	g := newGrouper(req, r.maxGroups(), r.maxValues())
	err = r.Stream.Each(ctx, req.Query.Type, f, time.Time{}, func(rec *storage.Record) error {
		res, err := jsontree.DecodeObject(rec.JSON) // numbers as json.Number, as FHIRPath reads them
		if err != nil {
			return fmt.Errorf("aggregate: stored %s/%s: %w", rec.Type, rec.ID, err)
		}
		if keep != nil {
			vals, err := keep.Eval(res)
			if err != nil || !search.Truthy(vals) {
				return nil
			}
		}
		return g.add(res)
	})
	if err != nil {
		return nil, err
	}
	out := g.result()
	out.Plan = "stream"
	return out, nil
}

// finish applies the minimum cell size and orders the groups.
func finish(res *Result, req *Request) (*Result, error) {
	if n := int64(req.MinCell); n > 0 {
		if res.Count > 0 && res.Count < n {
			return nil, fmt.Errorf("%w: fewer than %d resources match, the minimum cell size for the caller", ErrSmallCell, n)
		}
		kept := res.Groups[:0]
		for _, g := range res.Groups {
			if g.Count < n {
				res.Suppressed++
				continue
			}
			kept = append(kept, g)
		}
		res.Groups = kept
	}
	slices.SortFunc(res.Groups, func(a, b Group) int {
		if a.Count != b.Count {
			if a.Count > b.Count {
				return -1
			}
			return 1
		}
		return compareKeys(a.Key, b.Key)
	})
	return res, nil
}

// compareKeys orders key tuples: nulls first, then by text.
func compareKeys(a, b []*string) int {
	for i := range min(len(a), len(b)) {
		switch x, y := a[i], b[i]; {
		case x == nil && y == nil:
		case x == nil:
			return -1
		case y == nil:
			return 1
		default:
			if c := strings.Compare(*x, *y); c != 0 {
				return c
			}
		}
	}
	return len(a) - len(b)
}
