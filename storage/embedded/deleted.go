package embedded

import (
	"context"
	"fmt"
)

// DeletedIndexSuffix ends the name of the SQLite index IndexDeleted creates for a
// collection's table.
const DeletedIndexSuffix = "_fhirgate_del"

// IndexDeleted creates a partial index of the deleted documents of collection coll of
// dbName, those whose DocPlaceholder+"->>'$.del'" is not NULL (1: field del is true). A
// query with that test reads them from the index alone, so a count of the live documents
// is the table's count less the index's, where a test of each document would parse every
// one's JSON. Only deletions make the index grow. It is idempotent.
func (e *Engine) IndexDeleted(ctx context.Context, dbName, coll string) error {
	db, table, err := e.sqliteTable(ctx, dbName, coll)
	if err != nil {
		return err
	}
	expr := fmt.Sprintf("%q->>'$.del'", sqliteDocColumn)
	q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (%s) WHERE %s IS NOT NULL`, table+DeletedIndexSuffix, table, expr, expr)
	if _, err := db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("embedded engine: deleted index %s.%s: %w", dbName, coll, err)
	}
	return nil
}
