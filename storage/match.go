package storage

import (
	"encoding/binary"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/fhirgate/fhirgate/storage/layout"
)

// FerretDB v1.24 evaluates every filter but {_id: v} in Go, after decoding each
// document, and gets some of MongoDB's semantics wrong: $elemMatch on sub-document
// fields matches nothing (or fails with "unknown operator"), and $or/$nor are not
// allowed inside $elemMatch. On the embedded engine, storage therefore sends FerretDB
// a looser filter that it does evaluate correctly (dotted paths instead of $elemMatch,
// no negations) and checks the exact filter here, with MongoDB's semantics, on the
// documents it returns. The cost is the same scan FerretDB does anyway.

// withIndex returns doc with the fields of its packed search index (ix) appended: i,
// oa and od, the layout filters and sorts are written for. The result never aliases
// doc's memory when it differs from doc.
func withIndex(doc bson.Raw) bson.Raw {
	v, err := doc.LookupErr(layout.Packed)
	if err != nil {
		return doc
	}
	_, data, ok := v.BinaryOK()
	if !ok || len(data) < 5 {
		return doc
	}
	out := make([]byte, 4, len(doc)+len(data))
	out = append(out, doc[4:len(doc)-1]...)
	out = append(out, data[4:len(data)-1]...)
	out = append(out, 0)
	binary.LittleEndian.PutUint32(out, uint32(len(out)))
	return out
}

// indexField reports whether a filter or sort key names the search fields.
func indexField(key string) bool {
	root, _, _ := strings.Cut(key, ".")
	return root == layout.Entries || root == layout.Asc || root == layout.Desc
}

// indexSort reports whether sort orders by search fields.
func indexSort(sort bson.D) bool {
	for _, k := range sort {
		if indexField(k.Key) {
			return true
		}
	}
	return false
}

// sortedDoc is a match held for sorting in storage.
type sortedDoc struct {
	keys []bson.RawValue
	doc  bson.Raw
}

// sortDocs orders docs by sort as MongoDB does: per key, missing or null first, then
// numbers, then strings; descending keys reversed.
func sortDocs(docs []sortedDoc, sort bson.D) {
	slices.SortStableFunc(docs, func(a, b sortedDoc) int {
		for i, k := range sort {
			c := compareRaw(a.keys[i], b.keys[i])
			if dir, _ := k.Value.(int); dir < 0 {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
}

func sortKeys(doc bson.Raw, sort bson.D) []bson.RawValue {
	keys := make([]bson.RawValue, len(sort))
	for i, k := range sort {
		if _, whole := lookupPath(doc, strings.Split(k.Key, ".")); len(whole) > 0 {
			keys[i] = whole[0]
		}
	}
	return keys
}

// compareRaw orders two sort key values: absent or null, then numbers, then strings.
func compareRaw(a, b bson.RawValue) int {
	rank := func(v bson.RawValue) int {
		switch v.Type {
		case bson.TypeDouble, bson.TypeInt32, bson.TypeInt64:
			return 1
		case bson.TypeString:
			return 2
		}
		return 0
	}
	ra, rb := rank(a), rank(b)
	if ra != rb {
		return ra - rb
	}
	switch ra {
	case 1:
		n, _ := numberOf(b)
		c, _ := compareNum(a, n)
		return c
	case 2:
		return strings.Compare(a.StringValue(), b.StringValue())
	}
	return 0
}

// numberOf reads a BSON number of any width as a float64.
func numberOf(v bson.RawValue) (float64, bool) {
	switch v.Type {
	case bson.TypeDouble:
		return v.Double(), true
	case bson.TypeInt64:
		return float64(v.Int64()), true
	case bson.TypeInt32:
		return float64(v.Int32()), true
	}
	return 0, false
}

// exactNeeded reports whether filter uses operators the embedded engine mishandles, or
// the search entries, which it holds packed in ib.
func exactNeeded(filter bson.D) bool {
	for _, e := range filter {
		if indexField(e.Key) {
			return true
		}
		switch e.Key {
		case "$nor", "$not":
			return true
		case "$and", "$or":
			for _, sub := range e.Value.(bson.A) {
				if exactNeeded(sub.(bson.D)) {
					return true
				}
			}
		default:
			if d, ok := e.Value.(bson.D); ok {
				for _, op := range d {
					if op.Key == "$elemMatch" || op.Key == "$not" {
						return true
					}
				}
			}
		}
	}
	return false
}

// loosen returns a filter that matches at least the documents filter matches and
// that the embedded engine evaluates correctly.
func loosen(filter bson.D) bson.D {
	out := bson.D{}
	for _, e := range filter {
		switch e.Key {
		case "$nor", "$not":
			// A superset of a negation is not derivable: match everything here.
		case "$and":
			var parts bson.A
			for _, sub := range e.Value.(bson.A) {
				if l := loosen(sub.(bson.D)); len(l) > 0 {
					parts = append(parts, l)
				}
			}
			if len(parts) > 0 {
				out = append(out, bson.E{Key: "$and", Value: parts})
			}
		case "$or":
			parts := bson.A{}
			for _, sub := range e.Value.(bson.A) {
				l := loosen(sub.(bson.D))
				if len(l) == 0 {
					parts = nil // one branch matches everything: so does the $or
					break
				}
				parts = append(parts, l)
			}
			if parts != nil {
				out = append(out, bson.E{Key: "$or", Value: parts})
			}
		default:
			// The embedded engine holds the search entries packed (ib): conditions on
			// them are checked here only.
			if !indexField(e.Key) {
				out = append(out, e)
			}
		}
	}
	return out
}

// matcher evaluates a filter on documents with MongoDB's semantics, for the operators
// storage's callers use: implicit equality, $eq $ne $gt $gte $lt $lte $in $regex
// $options $exists $elemMatch, and $and $or $nor.
type matcher struct {
	mu  sync.Mutex
	res map[string]*regexp.Regexp
}

func (m *matcher) match(doc bson.Raw, filter bson.D) (bool, error) {
	for _, e := range filter {
		ok, err := m.clause(doc, e)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

func (m *matcher) clause(doc bson.Raw, e bson.E) (bool, error) {
	switch e.Key {
	case "$and", "$or", "$nor":
		subs, ok := e.Value.(bson.A)
		if !ok {
			return false, fmt.Errorf("%s takes an array: %w", e.Key, ErrInvalid)
		}
		for _, s := range subs {
			ok, err := m.match(doc, s.(bson.D))
			if err != nil {
				return false, err
			}
			switch {
			case e.Key == "$and" && !ok:
				return false, nil
			case e.Key == "$or" && ok:
				return true, nil
			case e.Key == "$nor" && ok:
				return false, nil
			}
		}
		return e.Key != "$or", nil
	}
	vals, whole := lookupPath(doc, strings.Split(e.Key, "."))
	ops, isOps := e.Value.(bson.D)
	if !isOps || len(ops) == 0 || !strings.HasPrefix(ops[0].Key, "$") {
		return anyEqual(vals, e.Value), nil
	}
	var opts string
	for _, op := range ops {
		if op.Key == "$options" {
			opts, _ = op.Value.(string)
		}
	}
	for _, op := range ops {
		ok, err := m.op(vals, whole, op, opts)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

func (m *matcher) op(vals, whole []bson.RawValue, op bson.E, opts string) (bool, error) {
	switch op.Key {
	case "$eq":
		return anyEqual(vals, op.Value), nil
	case "$ne":
		return !anyEqual(vals, op.Value), nil
	case "$in":
		for _, x := range op.Value.(bson.A) {
			if anyEqual(vals, x) {
				return true, nil
			}
		}
		return false, nil
	case "$gt", "$gte", "$lt", "$lte":
		for _, v := range vals {
			c, ok := compare(v, op.Value)
			if !ok {
				continue
			}
			switch {
			case op.Key == "$gt" && c > 0, op.Key == "$gte" && c >= 0, op.Key == "$lt" && c < 0, op.Key == "$lte" && c <= 0:
				return true, nil
			}
		}
		return false, nil
	case "$regex":
		re, err := m.regex(op.Value.(string), opts)
		if err != nil {
			return false, err
		}
		for _, v := range vals {
			if s, ok := v.StringValueOK(); ok && re.MatchString(s) {
				return true, nil
			}
		}
		return false, nil
	case "$options":
		return true, nil
	case "$exists":
		want, _ := op.Value.(bool)
		return (len(vals) > 0) == want, nil
	case "$elemMatch":
		body := op.Value.(bson.D)
		for _, w := range whole {
			arr, ok := w.ArrayOK()
			if !ok {
				continue
			}
			elems, _ := arr.Values()
			for _, el := range elems {
				d, ok := el.DocumentOK()
				if !ok {
					continue
				}
				if ok, err := m.match(d, body); err != nil || ok {
					return ok, err
				}
			}
		}
		return false, nil
	}
	return false, fmt.Errorf("storage: filter operator %s: %w", op.Key, ErrInvalid)
}

func (m *matcher) regex(src, opts string) (*regexp.Regexp, error) {
	key := opts + "/" + src
	m.mu.Lock()
	defer m.mu.Unlock()
	if re := m.res[key]; re != nil {
		return re, nil
	}
	flags := ""
	if strings.Contains(opts, "i") {
		flags = "(?i)"
	}
	re, err := regexp.Compile(flags + src)
	if err != nil {
		return nil, fmt.Errorf("storage: regex: %w: %w", ErrInvalid, err)
	}
	if m.res == nil {
		m.res = map[string]*regexp.Regexp{}
	}
	m.res[key] = re
	return re, nil
}

// lookupPath returns the values at a dotted path, descending through arrays as MongoDB
// does: vals holds leaf values with arrays expanded into their elements (and kept
// whole), whole holds the leaf values as stored.
func lookupPath(doc bson.Raw, path []string) (vals, whole []bson.RawValue) {
	v, err := doc.LookupErr(path[0])
	if err != nil {
		return nil, nil
	}
	if len(path) == 1 {
		whole = []bson.RawValue{v}
		if arr, ok := v.ArrayOK(); ok {
			elems, _ := arr.Values()
			return append(elems, v), whole
		}
		return whole, whole
	}
	if d, ok := v.DocumentOK(); ok {
		return lookupPath(d, path[1:])
	}
	if arr, ok := v.ArrayOK(); ok {
		elems, _ := arr.Values()
		for _, el := range elems {
			if d, ok := el.DocumentOK(); ok {
				a, b := lookupPath(d, path[1:])
				vals, whole = append(vals, a...), append(whole, b...)
			}
		}
	}
	return vals, whole
}

func anyEqual(vals []bson.RawValue, want any) bool {
	if want == nil {
		if len(vals) == 0 {
			return true
		}
		for _, v := range vals {
			if v.Type == bson.TypeNull {
				return true
			}
		}
		return false
	}
	for _, v := range vals {
		if c, ok := compare(v, want); ok && c == 0 {
			return true
		}
	}
	return false
}

// compare orders a stored value against a filter value of the same kind (numbers with
// numbers, strings with strings, booleans with booleans); ok is false across kinds.
func compare(v bson.RawValue, want any) (int, bool) {
	switch w := want.(type) {
	case string:
		s, ok := v.StringValueOK()
		if !ok {
			return 0, false
		}
		return strings.Compare(s, w), true
	case bool:
		b, ok := v.BooleanOK()
		if !ok {
			return 0, false
		}
		if b == w {
			return 0, true
		}
		if w {
			return -1, true
		}
		return 1, true
	case int:
		return compareNum(v, float64(w))
	case int32:
		return compareNum(v, float64(w))
	case int64:
		return compareNum(v, float64(w))
	case float64:
		return compareNum(v, w)
	}
	return 0, false
}

func compareNum(v bson.RawValue, w float64) (int, bool) {
	f, ok := numberOf(v)
	if !ok {
		return 0, false
	}
	switch {
	case f < w:
		return -1, true
	case f > w:
		return 1, true
	}
	return 0, true
}
