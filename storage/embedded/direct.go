package embedded

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"
)

// insertRows is how many documents one INSERT statement carries, as FerretDB's own
// inserts (its default batch size).
const insertRows = 100

// InsertDocs inserts docs into the table of collection coll of dbName, straight into
// SQLite in one transaction, stored exactly as FerretDB stores them (see sjson), so that
// FerretDB and SQL reads return them as if FerretDB had inserted them. The collection
// must exist. The table's triggers keep its search index as for any insert.
//
// Only flat documents of strings, 32- and 64-bit integers, booleans, dates and binary
// data are accepted, with plain field names: storage's history and current documents.
//
// When skipDups is set, a document whose _id is taken is skipped; otherwise a taken _id
// inserts none of docs, and dup reports it.
func (e *Engine) InsertDocs(ctx context.Context, dbName, coll string, docs []bson.Raw, skipDups bool) (dup bool, err error) {
	if len(docs) == 0 {
		return false, nil
	}
	fail := func(err error) error { return fmt.Errorf("embedded engine: insert into %s.%s: %w", dbName, coll, err) }

	rows := make([]any, len(docs))
	for i, d := range docs {
		b, err := sjson(d)
		if err != nil {
			return false, fail(fmt.Errorf("document %d: %w", i, err))
		}
		rows[i] = string(b)
	}

	// The table first: the lookup uses the connection the transaction below holds.
	table, err := e.tableOf(ctx, dbName, coll)
	if err != nil {
		return false, err
	}
	db, err := e.sqlDB(dbName)
	if err != nil {
		return false, err
	}

	verb := "INSERT"
	if skipDups {
		verb = "INSERT OR IGNORE"
	}

	// The connection begins transactions IMMEDIATE (see sqlDB): the write lock is taken,
	// or waited for behind FerretDB's writers, at once.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fail(err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit

	for len(rows) > 0 {
		n := min(insertRows, len(rows))
		q := fmt.Sprintf(`%s INTO %q (%s) VALUES (?)`, verb, table, sqliteDocColumn) + strings.Repeat(",(?)", n-1)
		if _, err := tx.ExecContext(ctx, q, rows[:n]...); err != nil {
			if se, ok := errors.AsType[*sqlite.Error](err); ok && se.Code() == sqlite3lib.SQLITE_CONSTRAINT_UNIQUE {
				return true, nil
			}
			e.forgetTable(dbName, coll) // in case the collection was dropped
			return false, fail(err)
		}
		rows = rows[n:]
	}

	if err := tx.Commit(); err != nil {
		return false, fail(err)
	}
	return false, nil
}

// sjson encodes flat BSON document d as FerretDB v1.24.2 stores documents in SQLite
// (internal/handler/sjson): a JSON object whose "$s" field, first, holds the schema
// {"p": {field: {"t": type}}, "$k": [fields in order]}, then the fields: strings as JSON
// strings (encoding/json's escaping), integers as numbers, dates as milliseconds since the
// epoch, binary data as base64 (its subtype in the schema).
func sjson(d bson.Raw) ([]byte, error) {
	elems, err := d.Elements()
	if err != nil {
		return nil, err
	}
	if len(elems) == 0 {
		return []byte(`{"$s":{}}`), nil
	}

	var schema, keys, values bytes.Buffer
	schema.WriteString(`{"$s":{"p":{`)
	keys.WriteString(`},"$k":[`)

	for i, el := range elems {
		key := el.Key()
		if !plainKey(key) {
			return nil, fmt.Errorf("field %q: a name the direct path does not encode", key)
		}
		if i > 0 {
			schema.WriteByte(',')
			keys.WriteByte(',')
		}
		schema.WriteString(`"` + key + `":`)
		keys.WriteString(`"` + key + `"`)
		values.WriteString(`,"` + key + `":`)

		v := el.Value()
		switch v.Type {
		case bson.TypeString:
			schema.WriteString(`{"t":"string"}`)
			b, err := json.Marshal(v.StringValue())
			if err != nil {
				return nil, err
			}
			values.Write(b)
		case bson.TypeInt64:
			schema.WriteString(`{"t":"long"}`)
			values.WriteString(strconv.FormatInt(v.Int64(), 10))
		case bson.TypeInt32:
			schema.WriteString(`{"t":"int"}`)
			values.WriteString(strconv.FormatInt(int64(v.Int32()), 10))
		case bson.TypeBoolean:
			schema.WriteString(`{"t":"bool"}`)
			values.WriteString(strconv.FormatBool(v.Boolean()))
		case bson.TypeDateTime:
			schema.WriteString(`{"t":"date"}`)
			values.WriteString(strconv.FormatInt(v.DateTime(), 10))
		case bson.TypeBinary:
			sub, data := v.Binary()
			schema.WriteString(`{"t":"binData","s":` + strconv.Itoa(int(sub)) + `}`)
			values.WriteByte('"')
			values.WriteString(base64.StdEncoding.EncodeToString(data))
			values.WriteByte('"')
		default:
			return nil, fmt.Errorf("field %q: type %s, which the direct path does not encode", key, v.Type)
		}
	}
	keys.WriteString(`]}`)

	out := make([]byte, 0, schema.Len()+keys.Len()+values.Len()+1)
	out = append(out, schema.Bytes()...)
	out = append(out, keys.Bytes()...)
	out = append(out, values.Bytes()...)
	return append(out, '}'), nil
}

// plainKey reports whether key is a field name that JSON needs no escaping for and that
// FerretDB stores as it is: FerretDB writes the document's field names unescaped.
func plainKey(key string) bool {
	if key == "" || key[0] == '$' {
		return false
	}
	for _, r := range key {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
