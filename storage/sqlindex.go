package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/fhirgate/fhirgate/storage/layout"
)

// Search on the embedded engine through SQLite index tables.
//
// FerretDB evaluates every filter but {_id: v} by decoding each document, so a search
// would cost what is stored. On the embedded engine each current document therefore
// carries its search entries a second time, as JSON text in field ij: one array
// [p, f, k, s, lo, hi, o] per entry (parameter; which field k holds, r c v or x; that
// value; the system; the low and high ends; the parameter's ascending sort key, on its
// first entry only), a row [oa.<p>, "o", ..., key] for an ascending key whose parameter has
// no entry row, and [od.<p>, ...] where the descending key differs. A sort key riding on an
// entry row saves a row per parameter: there were about as many sort rows as entry rows,
// and the rows are what a write's trigger parses and indexes. The _id parameter is left
// out: searches on it are {_id} filters. SQLite triggers on the collection's table copy them into an index table in
// the transaction that writes the document (package embedded), so the index never
// lags and needs no repair after a crash.
//
// A search translates what it can of its filter into SQL over that table: the most
// selective condition drives an index search, the others are checked per candidate
// through the (id, p) index, and the sort keys are joined. The candidates' ids are
// then read by _id and checked against the whole filter in Go (match.go), so a
// condition SQL cannot express (negations, text, composites) only widens the
// candidates. When the translation is exact, SQL also pages and counts. A filter with
// no selective condition the table can serve falls back to the scan.

// layoutVersion names the embedded engine's document layout of the search fields; it is
// part of the version stored in iv, so documents written before it (without ij) are
// rewritten by Reindex.
const layoutVersion = "+ij2"

// indexVersion is the version stored in iv with the search fields.
func (s *Store) indexVersion() string { return s.c.be.indexVersion(s.c.indexer) }

func (embeddedBackend) indexVersion(ix Indexer) string { return ix.Version() + layoutVersion }

func (mongoBackend) indexVersion(ix Indexer) string { return ix.Version() }

// kFields are the entry fields whose value the index table keeps in column k, in order
// of preference: no entry has more than one of r, c and v.
var kFields = []string{layout.Ref, layout.Code, layout.Norm, layout.Exact}

// packIndex returns the search fields f packed for the embedded engine: as one BSON
// document (for the exact match in Go) and as the rows of the index table.
func packIndex(f IndexFields) (ix []byte, rows []layout.IndexRow, err error) {
	raw, err := bson.Marshal(f)
	if err != nil {
		return nil, nil, err
	}
	doc := bson.Raw(raw)

	rows = []layout.IndexRow{}
	first := map[string]int{} // each parameter's first entry row
	if arr, ok := doc.Lookup(layout.Entries).ArrayOK(); ok {
		vals, _ := arr.Values()
		for _, v := range vals {
			if e, ok := v.DocumentOK(); ok {
				if row, ok := entryRow(e); ok && row[0] != "_id" {
					if _, ok := first[row[0].(string)]; !ok {
						first[row[0].(string)] = len(rows)
					}
					rows = append(rows, row)
				}
			}
		}
	}
	asc := map[string]bson.RawValue{}
	for _, side := range []string{layout.Asc, layout.Desc} {
		d, ok := doc.Lookup(side).DocumentOK()
		if !ok {
			continue
		}
		elems, _ := d.Elements()
		for _, el := range elems {
			v := el.Value()
			if side == layout.Asc {
				asc[el.Key()] = v
			} else if a, ok := asc[el.Key()]; ok && a.Equal(v) {
				continue // the query falls back to the ascending key
			}
			k := goValue(v)
			if k == nil || el.Key() == "_id" {
				continue
			}
			if i, ok := first[el.Key()]; side == layout.Asc && ok {
				rows[i][6] = k
				continue
			}
			rows = append(rows, layout.IndexRow{side + "." + el.Key(), "o", nil, nil, nil, nil, k})
		}
	}
	return raw, rows, nil
}

// entriesJSON is rows as the JSON of field ij, from which the index table's triggers
// index the documents FerretDB writes.
func entriesJSON(rows []layout.IndexRow) (string, error) {
	b, err := json.Marshal(rows)
	return string(b), err
}

// entryRow is the index row of one search entry; false without a parameter.
func entryRow(e bson.Raw) (layout.IndexRow, bool) {
	p, ok := e.Lookup(layout.Param).StringValueOK()
	if !ok {
		return layout.IndexRow{}, false
	}
	row := layout.IndexRow{p, nil, nil, nil, nil, nil, nil}
	for _, f := range kFields {
		if k, ok := e.Lookup(f).StringValueOK(); ok {
			row[1], row[2] = f, k
			break
		}
	}
	if sys, ok := e.Lookup(layout.System).StringValueOK(); ok {
		row[3] = sys
	}
	row[4], row[5] = goValue(e.Lookup(layout.Lo)), goValue(e.Lookup(layout.Hi))
	return row, true
}

// sqlPart is a SQL condition with its arguments; "@" stands for the row alias.
type sqlPart struct {
	sql  string
	args []any
}

func (p sqlPart) on(alias string) string { return strings.ReplaceAll(p.sql, "@", alias) }

// Driver ranks: how well a condition narrows the candidates through an index.
const (
	rankNone   = 0 // checked per candidate only
	rankRange  = 1 // a range of lo or hi
	rankPrefix = 2 // a prefix of k
	rankEqual  = 3 // k equal to one of a few values
	rankID     = 4 // _id equal to one of a few values
)

type rankedPart struct {
	sqlPart
	rank int
}

// sqlPlan is a filter translated for the index table: each entry condition must hold
// for some index row of a match, each id condition for its id.
type sqlPlan struct {
	entries []rankedPart
	ids     []rankedPart
	// exact is set when the conditions express the whole filter.
	exact bool
}

func planFilter(filter bson.D) *sqlPlan {
	p := &sqlPlan{exact: true}
	p.add(filter)
	return p
}

func (p *sqlPlan) add(filter bson.D) {
	for _, e := range filter {
		switch e.Key {
		case "$and":
			subs, _ := e.Value.(bson.A)
			for _, sub := range subs {
				if d, ok := sub.(bson.D); ok {
					p.add(d)
				} else {
					p.exact = false
				}
			}
		case "$or":
			// A one-branch $or (a keyset page in _id order) is its branch; others
			// are left to the check in Go.
			subs, _ := e.Value.(bson.A)
			if len(subs) == 1 {
				if d, ok := subs[0].(bson.D); ok {
					p.add(d)
					continue
				}
			}
			if part, ok := entryAlternatives(subs); ok {
				p.entries = append(p.entries, part)
				continue
			}
			p.exact = false
		case "_id":
			if part, ok := idPart(e.Value); ok {
				p.ids = append(p.ids, part)
			} else {
				p.exact = false
			}
		case layout.Entries:
			part, exact, ok := entryPart(e.Value)
			if ok {
				p.entries = append(p.entries, part)
			}
			p.exact = p.exact && exact && ok
		default:
			p.exact = false
		}
	}
}

// entryAlternatives translates an $or whose branches are each one entry condition,
// translated exactly (a parameter given several values), into one condition on a row.
func entryAlternatives(subs bson.A) (rankedPart, bool) {
	out := rankedPart{rank: rankEqual}
	var alts []string
	for _, sub := range subs {
		d, _ := sub.(bson.D)
		if len(d) != 1 || d[0].Key != layout.Entries {
			return rankedPart{}, false
		}
		part, exact, ok := entryPart(d[0].Value)
		if !ok || !exact {
			return rankedPart{}, false
		}
		alts, out.args, out.rank = append(alts, "("+part.sql+")"), append(out.args, part.args...), min(out.rank, part.rank)
	}
	if len(alts) == 0 {
		return rankedPart{}, false
	}
	out.sql = "(" + strings.Join(alts, " OR ") + ")"
	return out, true
}

// idPart translates a condition on _id: a string, or operators on strings.
func idPart(v any) (rankedPart, bool) {
	if s, ok := v.(string); ok {
		return rankedPart{sqlPart{"@ = ?", []any{s}}, rankID}, true
	}
	ops, ok := v.(bson.D)
	if !ok || len(ops) == 0 {
		return rankedPart{}, false
	}
	var out rankedPart
	var conds []string
	for _, op := range ops {
		part, rank, ok := compareOp("@", op, func(x any) bool { _, ok := x.(string); return ok })
		if !ok {
			return rankedPart{}, false
		}
		if rank == rankEqual {
			rank = rankID
		} else {
			rank = rankNone // an id range only bounds the driver's rows
		}
		conds, out.args, out.rank = append(conds, part.sql), append(out.args, part.args...), max(out.rank, rank)
	}
	out.sql = strings.Join(conds, " AND ")
	return out, true
}

var sqlOps = map[string]string{"$eq": "=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}

// compareOp translates one operator on column col when its operands satisfy kind:
// comparisons rank as ranges, $eq and $in as equalities.
func compareOp(col string, op bson.E, kind func(any) bool) (sqlPart, int, bool) {
	if sop, ok := sqlOps[op.Key]; ok && kind(op.Value) {
		rank := rankRange
		if op.Key == "$eq" {
			rank = rankEqual
		}
		return sqlPart{col + " " + sop + " ?", []any{op.Value}}, rank, true
	}
	if op.Key != "$in" {
		return sqlPart{}, 0, false
	}
	vals, _ := op.Value.(bson.A)
	if len(vals) == 0 {
		return sqlPart{"0 = 1", nil}, rankEqual, true
	}
	marks := make([]string, len(vals))
	for i, x := range vals {
		if !kind(x) {
			return sqlPart{}, 0, false
		}
		marks[i] = "?"
	}
	return sqlPart{col + " IN (" + strings.Join(marks, ", ") + ")", vals}, rankEqual, true
}

func isString(x any) bool { _, ok := x.(string); return ok }

func isNumber(x any) bool {
	switch x.(type) {
	case int, int32, int64, float64:
		return true
	}
	return false
}

// entryPart translates {$elemMatch: {p: code, ...}} on the entries. A field condition
// that SQL cannot express is left out: the part then matches more (exact is false).
func entryPart(v any) (part rankedPart, exact, ok bool) {
	ops, _ := v.(bson.D)
	if len(ops) != 1 || ops[0].Key != "$elemMatch" {
		return rankedPart{}, false, false
	}
	body, _ := ops[0].Value.(bson.D)
	var param string
	for _, f := range body {
		if f.Key == layout.Param {
			param, _ = f.Value.(string)
		}
	}
	if param == "" || param == "_id" {
		return rankedPart{}, false, false
	}
	conds, args, exact := []string{"@.p = ?"}, []any{param}, true
	for _, f := range body {
		if f.Key == layout.Param {
			continue
		}
		fp, rank, ok := fieldPart(f)
		if !ok {
			exact = false
			continue
		}
		conds, args, part.rank = append(conds, fp.sql), append(args, fp.args...), max(part.rank, rank)
	}
	part.sqlPart = sqlPart{strings.Join(conds, " AND "), args}
	return part, exact, true
}

// literalPrefix matches the regular expressions a prefix search builds: "^" and a
// quoted literal.
var literalPrefix = regexp.MustCompile(`^\^(?:[^\\.+*?()|\[\]{}^$]|\\[\\.+*?()|\[\]{}^$])*$`)

// fieldPart translates one condition of an entry's $elemMatch.
func fieldPart(f bson.E) (sqlPart, int, bool) {
	switch f.Key {
	case "$or":
		subs, _ := f.Value.(bson.A)
		var alts []string
		var args []any
		for _, sub := range subs {
			body, _ := sub.(bson.D)
			if len(body) == 0 {
				return sqlPart{}, 0, false
			}
			var conds []string
			for _, g := range body {
				gp, _, ok := fieldPart(g)
				if !ok {
					return sqlPart{}, 0, false
				}
				conds, args = append(conds, gp.sql), append(args, gp.args...)
			}
			alts = append(alts, "("+strings.Join(conds, " AND ")+")")
		}
		if len(alts) == 0 {
			return sqlPart{}, 0, false
		}
		return sqlPart{"(" + strings.Join(alts, " OR ") + ")", args}, rankNone, true
	case layout.Ref, layout.Code, layout.Norm:
		field := sqlPart{"@.f = '" + f.Key + "' AND ", nil}
		var part sqlPart
		rank := rankEqual
		switch v := f.Value.(type) {
		case string:
			part = sqlPart{"@.k = ?", []any{v}}
		case bson.D:
			if len(v) == 1 && v[0].Key == "$regex" {
				re, _ := v[0].Value.(string)
				if !literalPrefix.MatchString(re) {
					return sqlPart{}, 0, false
				}
				// Byte order is code point order in UTF-8, and no UTF-8 byte is 0xFF.
				pre := unquoteMeta(re[1:])
				part, rank = sqlPart{"@.k >= ? AND @.k < ?", []any{pre, pre + "\xff"}}, rankPrefix
				break
			}
			var conds []string
			for _, op := range v {
				p, r, ok := compareOp("@.k", op, isString)
				if !ok {
					return sqlPart{}, 0, false
				}
				conds, part.args, rank = append(conds, p.sql), append(part.args, p.args...), min(rank, r)
			}
			part.sql = strings.Join(conds, " AND ")
		default:
			return sqlPart{}, 0, false
		}
		return sqlPart{field.sql + part.sql, part.args}, rank, true
	case layout.System:
		if v, ok := f.Value.(string); ok {
			return sqlPart{"@.s = ?", []any{v}}, rankNone, true
		}
	case layout.Lo, layout.Hi:
		col := "@." + f.Key
		if isNumber(f.Value) {
			return sqlPart{col + " = ?", []any{f.Value}}, rankRange, true
		}
		v, _ := f.Value.(bson.D)
		var conds []string
		var args []any
		for _, op := range v {
			p, _, ok := compareOp(col, op, isNumber)
			if !ok {
				return sqlPart{}, 0, false
			}
			conds, args = append(conds, p.sql), append(args, p.args...)
		}
		if len(conds) > 0 {
			return sqlPart{strings.Join(conds, " AND "), args}, rankRange, true
		}
	}
	return sqlPart{}, 0, false
}

// unquoteMeta undoes regexp.QuoteMeta on a literal.
func unquoteMeta(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// query returns the SQL selecting the ids of candidates in sort order (with _id last),
// and false when no condition can drive an index search or the sort is not on index
// fields.
func (p *sqlPlan) query(sort bson.D) (string, []any, bool) {
	// The driving row is an entry of the best-ranked entry condition; an _id condition
	// of a higher rank is on the same row, where SQLite serves it from the (id, p) index.
	drive, best := -1, rankNone
	for i, e := range p.entries {
		if drive < 0 || e.rank > p.entries[drive].rank {
			drive = i
		}
		best = max(best, e.rank)
	}
	for _, e := range p.ids {
		best = max(best, e.rank)
	}
	if drive < 0 || best == rankNone {
		return "", nil, false
	}

	var b strings.Builder
	var args []any
	var order []string
	b.WriteString("SELECT d.id FROM {{ix}} d")
	for i, k := range sort {
		dir := " ASC"
		if n, _ := k.Value.(int); n < 0 {
			dir = " DESC"
		}
		side, param, _ := strings.Cut(k.Key, ".")
		switch {
		case k.Key == "_id" || param == "_id":
			order = append(order, "d.id"+dir)
		case side == layout.Asc:
			alias := fmt.Sprintf("o%d", i)
			fmt.Fprintf(&b, " LEFT JOIN {{ix}} %[1]s ON %[1]s.id = d.id AND %[1]s.p IN (?, ?) AND %[1]s.o IS NOT NULL", alias)
			args = append(args, param, k.Key)
			order = append(order, alias+".o"+dir)
		case side == layout.Desc:
			// The descending key is stored only where it differs from the ascending one.
			alias := fmt.Sprintf("o%d", i)
			fmt.Fprintf(&b, " LEFT JOIN {{ix}} %[1]sd ON %[1]sd.id = d.id AND %[1]sd.p = ? LEFT JOIN {{ix}} %[1]sa ON %[1]sa.id = d.id AND %[1]sa.p IN (?, ?) AND %[1]sa.o IS NOT NULL", alias)
			args = append(args, k.Key, param, layout.Asc+"."+param)
			order = append(order, "COALESCE("+alias+"d.o, "+alias+"a.o)"+dir)
		default:
			return "", nil, false
		}
	}

	where := []string{p.entries[drive].on("d")}
	args = append(args, p.entries[drive].args...)
	for _, e := range p.ids {
		where, args = append(where, e.on("d.id")), append(args, e.args...)
	}
	for i, e := range p.entries {
		if i != drive {
			alias := fmt.Sprintf("x%d", i)
			where = append(where, fmt.Sprintf("EXISTS (SELECT 1 FROM {{ix}} %[1]s WHERE %[1]s.id = d.id AND %[2]s)", alias, e.on(alias)))
			args = append(args, e.args...)
		}
	}
	b.WriteString(" WHERE " + strings.Join(where, " AND "))
	b.WriteString(" GROUP BY d.id")
	if len(order) > 0 {
		b.WriteString(" ORDER BY " + strings.Join(order, ", "))
	}
	return b.String(), args, true
}

// indexIDs returns the ids the index query q selects.
func (s *Store) indexIDs(ctx context.Context, tc *typeColls, q string, args []any) ([]string, error) {
	var ids []string
	err := s.c.eng.QueryIndex(ctx, s.db.Name(), tc.cur.Name(), q, args, func(rows *sql.Rows) error {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		ids = append(ids, id)
		return nil
	})
	return ids, err
}

// indexScan is scan through the index table: it calls each with the matching documents
// (whole, search fields unpacked) in sort order, after skipping skip and up to limit
// (0: all), reading the candidates from SQLite by _id. It reports false, having called
// nothing, when the index cannot serve the filter and sort.
func (embeddedBackend) indexScan(ctx context.Context, s *Store, tc *typeColls, filter, sort bson.D, skip, limit int64, each func(bson.Raw) error) (bool, error) {
	if s.c.indexer == nil {
		return false, nil
	}
	plan := planFilter(filter)
	q, args, ok := plan.query(sort)
	if !ok {
		return false, nil
	}
	if plan.exact {
		// The candidates are the matches: SQLite pages.
		lim := limit
		if lim == 0 {
			lim = -1
		}
		q += " LIMIT ? OFFSET ?"
		args = append(args, lim, skip)
		skip = 0
	}
	ids, err := s.indexIDs(ctx, tc, q, args)
	if err != nil {
		return false, err
	}
	full := live(filter)
	var m matcher
	var n int64
	batch := max(int(skip+limit), 64)
	for start := 0; start < len(ids); start += batch {
		if start > 0 {
			batch = min(2*batch, 4096)
		}
		raws, err := s.sqlReadIDs(ctx, tc, ids[start:min(start+batch, len(ids))], true)
		if err != nil {
			return true, err
		}
		for _, r := range raws {
			if r == nil {
				continue // deleted since the index query
			}
			raw := *r
			ok, err := m.match(raw, full)
			if err != nil {
				return true, err
			}
			if !ok {
				continue
			}
			if skip > 0 {
				skip--
				continue
			}
			if err := each(raw); err != nil {
				return true, err
			}
			if n++; limit > 0 && n == limit {
				return true, nil
			}
		}
	}
	return true, nil
}

// indexCount counts the matches of filter in SQL when the index table expresses it
// exactly; ok is false otherwise.
func (embeddedBackend) indexCount(ctx context.Context, s *Store, tc *typeColls, filter bson.D) (n int64, ok bool, err error) {
	if s.c.indexer == nil {
		return 0, false, nil
	}
	plan := planFilter(filter)
	q, args, ok := plan.query(nil)
	if !ok || !plan.exact {
		return 0, false, nil
	}
	err = s.c.eng.QueryIndex(ctx, s.db.Name(), tc.cur.Name(), "SELECT COUNT(*) FROM ("+q+")", args, func(rows *sql.Rows) error {
		return rows.Scan(&n)
	})
	return n, true, err
}

// ExplainIndex returns, on the embedded engine, SQLite's plan for the index query of a
// search on typ with filter (scoped by ctx) and sort, one line per plan row, and
// whether the query expresses the filter exactly; "" when the search falls back to
// the scan. Tests and benchmarks use it to prove index searches.
func (s *Store) ExplainIndex(ctx context.Context, typ string, filter, sort bson.D) (plan string, exact bool, err error) {
	tc, err := s.colls(ctx, typ)
	if err != nil {
		return "", false, err
	}
	filter, ok := scoped(ctx, typ, filter)
	if !ok {
		return "", false, nil
	}
	return s.c.be.explainIndex(ctx, s, tc, filter, sort)
}

func (embeddedBackend) explainIndex(ctx context.Context, s *Store, tc *typeColls, filter, sort bson.D) (plan string, exact bool, err error) {
	if s.c.indexer == nil {
		return "", false, nil
	}
	p := planFilter(filter)
	q, args, ok := p.query(sort)
	if !ok {
		return "", false, nil
	}
	lines, err := s.explainSQL(ctx, tc, q, args)
	if err != nil {
		return "", false, fmt.Errorf("storage: explain %s: %w", tc.typ, err)
	}
	return strings.Join(lines, "\n"), p.exact, nil
}

// explainSQL returns SQLite's plan for read-only query q over tc's tables (see sqlQuery),
// one line per step.
func (s *Store) explainSQL(ctx context.Context, tc *typeColls, q string, args []any) ([]string, error) {
	var lines []string
	err := s.c.eng.QueryIndex(ctx, s.db.Name(), tc.cur.Name(), "EXPLAIN QUERY PLAN "+q, args, func(rows *sql.Rows) error {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			return err
		}
		lines = append(lines, detail)
		return nil
	})
	return lines, err
}

// MongoDB keeps its own indexes on the search entries (see typeIndexes): it scans and
// counts through them itself.

func (mongoBackend) indexScan(context.Context, *Store, *typeColls, bson.D, bson.D, int64, int64, func(bson.Raw) error) (bool, error) {
	return false, nil
}

func (mongoBackend) indexCount(context.Context, *Store, *typeColls, bson.D) (int64, bool, error) {
	return 0, false, nil
}

func (mongoBackend) explainIndex(context.Context, *Store, *typeColls, bson.D, bson.D) (string, bool, error) {
	return "", false, nil
}
