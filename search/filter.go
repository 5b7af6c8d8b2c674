package search

import (
	"context"
	"errors"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/fhirgate/fhirgate/model"
)

// Finder runs the sub-searches of chained parameters and _has.
type Finder interface {
	// Find returns, for the current resources of typ matching filter, their ids, and
	// when refParam is set, the "Type/id" values of that reference parameter in them.
	// It fails when more than limit resources match.
	Find(ctx context.Context, typ string, filter bson.D, refParam string, limit int) (ids, refs []string, err error)
}

// SubLimit bounds the matches of a chained or _has sub-search: the ids it finds become
// one $in list.
const SubLimit = 10000

// Fields of the stored document the filters read besides the index.
const (
	fieldID   = "_id"
	fieldJSON = "json"
)

var errNeedsFinder = errors.New("search: sub-search needs a finder")

type finderCtx struct {
	ctx context.Context
	f   Finder
	now time.Time // the instant the ap prefix approximates from, one per search
}

// Filter builds the MongoDB filter of the query's conditions, running chained and _has
// sub-searches through f. Values only ever appear as BSON strings and numbers in
// operator positions the filter chooses, so no value can inject an operator.
func (q *Query) Filter(ctx context.Context, f Finder) (bson.D, error) {
	return q.filterAt(ctx, f, time.Now())
}

// filterAt is Filter with the instant the ap prefix approximates from.
func (q *Query) filterAt(ctx context.Context, f Finder, now time.Time) (bson.D, error) {
	return q.root.filter(&finderCtx{ctx: ctx, f: f, now: now})
}

// matchNothing is a filter no document satisfies.
var matchNothing = bson.D{{Key: fieldID, Value: bson.D{{Key: "$in", Value: bson.A{}}}}}

func (n *node) filter(fc *finderCtx) (bson.D, error) {
	if n.leaf != nil {
		return n.leaf.filter(fc)
	}
	combine := func(kids []*node, op string) (bson.D, error) {
		var parts bson.A
		for _, k := range kids {
			f, err := k.filter(fc)
			if err != nil {
				return nil, err
			}
			if len(f) > 0 {
				parts = append(parts, f)
			}
		}
		switch len(parts) {
		case 0:
			return bson.D{}, nil
		case 1:
			return parts[0].(bson.D), nil
		}
		return bson.D{{Key: op, Value: parts}}, nil
	}
	if len(n.or) > 0 {
		return combine(n.or, "$or")
	}
	return combine(n.and, "$and")
}

// elem matches documents with an index entry of the condition's parameter that also
// satisfies m.
func (c *cond) elem(m bson.D) bson.D {
	return bson.D{{Key: FieldIndex, Value: bson.D{{Key: "$elemMatch", Value: append(bson.D{{Key: fParam, Value: c.param.Code}}, m...)}}}}
}

func nor(f bson.D) bson.D { return bson.D{{Key: "$nor", Value: bson.A{f}}} }

func (c *cond) filter(fc *finderCtx) (bson.D, error) {
	if c.has != nil {
		return c.hasFilter(fc)
	}
	p := c.param
	arg := ArgName(p.Code)
	if c.mod == "missing" {
		has := bson.D{{Key: FieldIndex + "." + fParam, Value: p.Code}}
		if c.value == "true" {
			return nor(has), nil
		}
		return has, nil
	}
	if c.chain != nil {
		return c.chainFilter(fc)
	}
	switch p.Code {
	case "_id":
		if c.mod == "not" {
			return bson.D{{Key: fieldID, Value: bson.D{{Key: "$ne", Value: c.value}}}}, nil
		}
		if c.mod != "" {
			return nil, unsupported("_id with modifier %s", c.mod)
		}
		return bson.D{{Key: fieldID, Value: c.value}}, nil
	case "_content", "_text":
		if c.mod != "" {
			return nil, unsupported("%s with modifier %s", p.Code, c.mod)
		}
		if c.value == "" {
			return nil, invalid("%s: empty value", arg)
		}
		// Without a text index: a case-insensitive substring of the stored JSON
		// (_content) or of its narrative (_text).
		re := regexp.QuoteMeta(c.value)
		if p.Code == "_text" {
			re = `"div":"[^"]*` + re
		}
		return bson.D{{Key: fieldJSON, Value: bson.D{{Key: "$regex", Value: re}, {Key: "$options", Value: "i"}}}}, nil
	case "_query":
		return nil, unsupported("_query (named queries)")
	}
	m, neg, err := c.match(fc.now)
	if err != nil {
		return nil, err
	}
	f := c.elem(m)
	if neg {
		return nor(f), nil
	}
	return f, nil
}

// match returns the $elemMatch body of a condition and whether the document-level
// condition is its negation (no entry matches).
func (c *cond) match(now time.Time) (m bson.D, neg bool, err error) {
	switch c.param.Type {
	case "string":
		return c.stringMatch(c.value)
	case "token":
		return c.tokenMatch("", c.value)
	case "reference":
		return c.referenceMatch("", c.value)
	case "uri":
		return c.uriMatch("", c.value)
	case "date":
		return dateMatch(c, "", c.value, now)
	case "number":
		return numberMatch(c, "", c.value, false)
	case "quantity":
		return numberMatch(c, "", c.value, true)
	case "composite":
		return c.compositeMatch(now)
	case "special":
		return c.nearMatch()
	}
	return nil, false, unsupported("%s parameters", c.param.Type)
}

func regex(re string) bson.D { return bson.D{{Key: "$regex", Value: re}} }

func (c *cond) stringMatch(v string) (bson.D, bool, error) {
	switch c.mod {
	case "":
		return bson.D{{Key: fNorm, Value: regex("^" + regexp.QuoteMeta(Normalize(v)))}}, false, nil
	case "contains":
		return bson.D{{Key: fNorm, Value: regex(regexp.QuoteMeta(Normalize(v)))}}, false, nil
	case "exact":
		return bson.D{{Key: fExact, Value: v}}, false, nil
	}
	return nil, false, invalid("%s: string parameters take no modifier %s", ArgName(c.param.Code), c.mod)
}

// tokenMatch builds a token match; pre prefixes field names inside composites.
func (c *cond) tokenMatch(pre, v string) (bson.D, bool, error) {
	arg := ArgName(c.param.Code)
	if v == "" {
		return nil, false, invalid("%s: empty token", arg)
	}
	systemCode := func(v string) bson.D {
		system, code, hasBar := strings.Cut(v, "|")
		if !hasBar {
			return bson.D{{Key: pre + fCode, Value: v}}
		}
		m := bson.D{{Key: pre + fSystem, Value: system}}
		if code != "" {
			m = append(m, bson.E{Key: pre + fCode, Value: code})
		}
		return m
	}
	switch c.mod {
	case "":
		return systemCode(v), false, nil
	case "not":
		return systemCode(v), true, nil
	case "text":
		return bson.D{{Key: pre + fText, Value: regex(`(^|[^\p{L}\p{N}])` + regexp.QuoteMeta(Normalize(v)))}}, false, nil
	case "of_type":
		parts := strings.Split(v, "|")
		if len(parts) != 3 || parts[1] == "" || parts[2] == "" {
			return nil, false, invalid("%s.of_type takes system|code|value, got %q", arg, v)
		}
		return bson.D{{Key: pre + fTypeS, Value: parts[0]}, {Key: pre + fTypeC, Value: parts[1]}, {Key: pre + fCode, Value: parts[2]}}, false, nil
	case "in", "not_in":
		m, err := valueSetMatch(pre, v, arg)
		return m, c.mod == "not_in", err
	case "above", "below":
		m, err := hierarchyMatch(pre, v, c.mod, arg)
		return m, false, err
	}
	return nil, false, invalid("%s: token parameters take no modifier %s", arg, c.mod)
}

func (c *cond) referenceMatch(pre, v string) (bson.D, bool, error) {
	arg := ArgName(c.param.Code)
	if v == "" {
		return nil, false, invalid("%s: empty reference", arg)
	}
	switch c.mod {
	case "identifier":
		system, value, hasBar := strings.Cut(v, "|")
		if !hasBar {
			return bson.D{{Key: pre + fCode, Value: v}}, false, nil
		}
		m := bson.D{{Key: pre + fSystem, Value: system}}
		if value != "" {
			m = append(m, bson.E{Key: pre + fCode, Value: value})
		}
		return m, false, nil
	case "above", "below":
		return nil, false, unsupported("%s.%s: hierarchical reference search", arg, c.mod)
	case "":
	default: // a target type
		if !model.ValidID(v) {
			return nil, false, invalid("%s.%s takes a resource id, got %q", arg, c.mod, v)
		}
		return bson.D{{Key: pre + fRef, Value: c.mod + "/" + v}}, false, nil
	}
	if r, ok := model.ParseReference(v); ok {
		if !strings.Contains(v, "://") {
			return bson.D{{Key: pre + fRef, Value: r.Relative()}}, false, nil
		}
		// An absolute URL matches a reference written either way.
		return bson.D{{Key: "$or", Value: bson.A{
			bson.D{{Key: pre + fExact, Value: v}}, bson.D{{Key: pre + fRef, Value: v}},
		}}}, false, nil
	}
	if model.ValidID(v) {
		m := bson.D{{Key: pre + fRefID, Value: v}}
		if len(c.param.Targets) > 0 {
			ts := bson.A{}
			for _, t := range c.param.Targets {
				ts = append(ts, t)
			}
			m = append(m, bson.E{Key: pre + fRefT, Value: bson.D{{Key: "$in", Value: ts}}})
		}
		return m, false, nil
	}
	if strings.Contains(v, ":") { // canonical URL, with or without |version, or urn:
		if strings.Contains(v, "|") {
			return bson.D{{Key: pre + fExact, Value: v}}, false, nil
		}
		return bson.D{{Key: pre + fRef, Value: v}}, false, nil
	}
	return nil, false, invalid("%s: %q is neither Type/id, an id nor a URL", arg, v)
}

func (c *cond) uriMatch(pre, v string) (bson.D, bool, error) {
	switch c.mod {
	case "":
		return bson.D{{Key: pre + fExact, Value: v}}, false, nil
	case "below":
		return bson.D{{Key: pre + fExact, Value: regex("^" + regexp.QuoteMeta(v))}}, false, nil
	case "above":
		// Every URI that v starts with, cut at path separators.
		var in bson.A
		for i := len(v); i > 0; i = strings.LastIndex(v[:i], "/") {
			in = append(in, v[:i])
			if strings.HasSuffix(v[:i], ":/") || strings.HasSuffix(v[:i], "://") {
				break
			}
		}
		return bson.D{{Key: pre + fExact, Value: bson.D{{Key: "$in", Value: in}}}}, false, nil
	}
	return nil, false, invalid("%s: uri parameters take no modifier %s", ArgName(c.param.Code), c.mod)
}

// splitPrefix separates a comparison prefix from a value.
func splitPrefix(v string) (prefix, rest string) {
	if len(v) > 2 && prefixes[v[:2]] && (v[2] >= '0' && v[2] <= '9' || v[2] == '-' || v[2] == '.') {
		return v[:2], v[2:]
	}
	return "eq", v
}

func dateMatch(c *cond, pre, v string, now time.Time) (bson.D, bool, error) {
	if c.mod != "" {
		return nil, false, invalid("%s: date parameters take no modifier %s", ArgName(c.param.Code), c.mod)
	}
	prefix, s := splitPrefix(v)
	qlo, qhi, ok := ParseDate(s)
	if !ok {
		return nil, false, invalid("%s: %q is not a date (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss[.fff]][Z|±hh:mm])", ArgName(c.param.Code), v)
	}
	lo, hi := pre+fLo, pre+fHi
	cmp := func(f, op string, x int64) bson.E { return bson.E{Key: f, Value: bson.D{{Key: op, Value: x}}} }
	within := bson.D{cmp(lo, "$gte", qlo), cmp(hi, "$lte", qhi)}
	switch prefix {
	case "eq":
		return within, false, nil
	case "ne":
		return within, true, nil
	case "gt":
		return bson.D{cmp(hi, "$gt", qhi)}, false, nil
	case "lt":
		return bson.D{cmp(lo, "$lt", qlo)}, false, nil
	case "ge":
		return bson.D{{Key: "$or", Value: bson.A{bson.D{cmp(hi, "$gt", qhi)}, within}}}, false, nil
	case "le":
		return bson.D{{Key: "$or", Value: bson.A{bson.D{cmp(lo, "$lt", qlo)}, within}}}, false, nil
	case "sa":
		return bson.D{cmp(lo, "$gt", qhi)}, false, nil
	case "eb":
		return bson.D{cmp(hi, "$lt", qlo)}, false, nil
	case "ap":
		// Approximately: the search range widened by 10% of its distance from now.
		t := now.UnixMilli()
		d := int64(math.Abs(float64(t-qlo)) / 10)
		return bson.D{cmp(lo, "$lte", qhi+d), cmp(hi, "$gte", qlo-d)}, false, nil
	}
	return nil, false, invalid("unknown prefix %s", prefix)
}

// parseNumber reads a decimal search value and the half-width of its implicit
// precision: "100" is 100 ± 0.5, "100.00" is 100 ± 0.005, "1e2" is 100 ± 50.
func parseNumber(s string) (v, half float64, ok bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || strings.ContainsAny(s, "xXpP_") {
		return 0, 0, false
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		exp, err = strconv.Atoi(s[i+1:])
		if err != nil {
			return 0, 0, false
		}
	}
	dec := 0
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		dec = len(mant) - i - 1
	}
	return f, 0.5 * math.Pow(10, float64(exp-dec)), true
}

func numberMatch(c *cond, pre, v string, quantity bool) (bson.D, bool, error) {
	arg := ArgName(c.param.Code)
	if c.mod != "" {
		return nil, false, invalid("%s: %s parameters take no modifier %s", arg, c.param.Type, c.mod)
	}
	prefix, s := splitPrefix(v)
	var unit bson.D
	if quantity {
		parts := strings.SplitN(s, "|", 3)
		s = parts[0]
		if len(parts) == 2 {
			return nil, false, invalid("%s: a quantity is number, number|system|code or number||code; got %q", arg, v)
		}
		if len(parts) == 3 && parts[2] != "" {
			system, code := parts[1], parts[2]
			if system != "" {
				unit = bson.D{{Key: pre + fSystem, Value: system}, {Key: pre + fCode, Value: code}}
			} else {
				unit = bson.D{{Key: "$or", Value: bson.A{
					bson.D{{Key: pre + fCode, Value: code}}, bson.D{{Key: pre + fUnit, Value: Normalize(code)}},
				}}}
			}
		}
	}
	q, half, ok := parseNumber(s)
	if !ok {
		return nil, false, invalid("%s: %q is not a number", arg, v)
	}
	lo, hi := pre+fLo, pre+fHi
	cmp := func(f, op string, x float64) bson.E { return bson.E{Key: f, Value: bson.D{{Key: op, Value: x}}} }
	var m bson.D
	neg := false
	switch prefix {
	case "eq", "ne":
		m = bson.D{cmp(lo, "$gte", q-half), cmp(hi, "$lt", q+half)}
		neg = prefix == "ne"
	case "gt":
		m = bson.D{cmp(hi, "$gt", q)}
	case "lt":
		m = bson.D{cmp(lo, "$lt", q)}
	case "ge":
		m = bson.D{cmp(hi, "$gte", q)}
	case "le":
		m = bson.D{cmp(lo, "$lte", q)}
	case "sa":
		m = bson.D{cmp(lo, "$gt", q)}
	case "eb":
		m = bson.D{cmp(hi, "$lt", q)}
	case "ap":
		d := math.Abs(q) / 10
		m = bson.D{cmp(lo, "$lte", q+d), cmp(hi, "$gte", q-d)}
	}
	return append(m, unit...), neg, nil
}

func (c *cond) compositeMatch(now time.Time) (bson.D, bool, error) {
	arg := ArgName(c.param.Code)
	if c.mod != "" {
		return nil, false, invalid("%s: composite parameters take no modifier %s", arg, c.mod)
	}
	parts := strings.Split(c.value, "$")
	comps := c.param.Components
	if len(parts) != len(comps) {
		return nil, false, invalid("%s: a composite value has %d parts joined by $, got %q", arg, len(comps), c.value)
	}
	var and bson.A
	for i, part := range parts {
		cp := lookup(c.typ, comps[i].Code)
		if cp == nil {
			return nil, false, unsupported("%s: component %s", arg, comps[i].Code)
		}
		sub := &cond{typ: c.typ, param: cp}
		pre := fComp + strconv.Itoa(i) + "."
		var cm bson.D
		var neg bool
		var err error
		switch cp.Type {
		case "token":
			cm, neg, err = sub.tokenMatch(pre, part)
		case "reference":
			cm, neg, err = sub.referenceMatch(pre, part)
		case "uri":
			cm, neg, err = sub.uriMatch(pre, part)
		case "string":
			cm, neg, err = sub.stringMatch(part)
			for j := range cm {
				cm[j].Key = pre + cm[j].Key
			}
		case "date":
			cm, neg, err = dateMatch(sub, pre, part, now)
		case "number":
			cm, neg, err = numberMatch(sub, pre, part, false)
		case "quantity":
			cm, neg, err = numberMatch(sub, pre, part, true)
		default:
			err = unsupported("%s: %s component", arg, cp.Type)
		}
		if err != nil {
			return nil, false, err
		}
		if neg {
			return nil, false, unsupported("%s: the ne prefix inside a composite", arg)
		}
		and = append(and, cm)
	}
	// $and, not one merged document: two components may each carry an $or.
	return bson.D{{Key: "$and", Value: and}}, false, nil
}

// nearMatch serves near=latitude|longitude|distance|unit (km by default, or mi) with a
// bounding box around the point: positions in the box's corners beyond the distance
// match too.
func (c *cond) nearMatch() (bson.D, bool, error) {
	arg := ArgName(c.param.Code)
	parts := strings.Split(c.value, "|")
	if len(parts) < 2 || len(parts) > 4 {
		return nil, false, invalid("%s takes latitude|longitude[|distance[|unit]], got %q", arg, c.value)
	}
	nums := make([]float64, 3)
	nums[2] = 1 // default 1 km
	for i := 0; i < len(parts) && i < 3; i++ {
		if parts[i] == "" && i == 2 {
			continue
		}
		f, err := strconv.ParseFloat(parts[i], 64)
		if err != nil {
			return nil, false, invalid("%s: %q is not a number", arg, parts[i])
		}
		nums[i] = f
	}
	lat, lon, dist := nums[0], nums[1], nums[2]
	if len(parts) == 4 {
		switch parts[3] {
		case "km", "":
		case "mi", "[mi_i]":
			dist *= 1.609344
		case "m":
			dist /= 1000
		default:
			return nil, false, invalid("%s: unit %q (use km, m or mi)", arg, parts[3])
		}
	}
	dLat := dist / 111.32
	dLon := dLat / math.Max(math.Cos(lat*math.Pi/180), 1e-6)
	return bson.D{
		{Key: fLat, Value: bson.D{{Key: "$gte", Value: lat - dLat}, {Key: "$lte", Value: lat + dLat}}},
		{Key: fLon, Value: bson.D{{Key: "$gte", Value: lon - dLon}, {Key: "$lte", Value: lon + dLon}}},
	}, false, nil
}

func (c *cond) chainFilter(fc *finderCtx) (bson.D, error) {
	if fc == nil || fc.f == nil {
		return nil, errNeedsFinder
	}
	sub, err := c.chain.filterAt(fc.ctx, fc.f, fc.now)
	if err != nil {
		return nil, err
	}
	ids, _, err := fc.f.Find(fc.ctx, c.chainT, sub, "", SubLimit)
	if err != nil {
		return nil, err
	}
	refs := make(bson.A, 0, len(ids))
	for _, id := range ids {
		refs = append(refs, c.chainT+"/"+id)
	}
	if len(refs) == 0 {
		return matchNothing, nil
	}
	return c.elem(bson.D{{Key: fRef, Value: bson.D{{Key: "$in", Value: refs}}}}), nil
}

func (c *cond) hasFilter(fc *finderCtx) (bson.D, error) {
	if fc == nil || fc.f == nil {
		return nil, errNeedsFinder
	}
	sub, err := c.has.query.filterAt(fc.ctx, fc.f, fc.now)
	if err != nil {
		return nil, err
	}
	_, refs, err := fc.f.Find(fc.ctx, c.has.source, sub, c.has.param, SubLimit)
	if err != nil {
		return nil, err
	}
	ids := bson.A{}
	seen := map[string]bool{}
	for _, r := range refs {
		if ref, ok := model.ParseReference(r); ok && ref.Type == c.typ && !seen[ref.ID] {
			seen[ref.ID] = true
			ids = append(ids, ref.ID)
		}
	}
	return bson.D{{Key: fieldID, Value: bson.D{{Key: "$in", Value: ids}}}}, nil
}
