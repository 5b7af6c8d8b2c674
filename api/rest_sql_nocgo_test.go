//go:build !cgo

package api_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestSQLQueryRunUnavailable: a binary built without cgo has no DuckDB; $sqlquery-run says so.
func TestSQLQueryRunUnavailable(t *testing.T) {
	e := newEnv(t)
	body := `{"resourceType":"Parameters","parameter":[{"name":"query","valueString":"SELECT 1"}]}`
	r := e.fhir(http.MethodPost, "/fhir/$sqlquery-run", "", []byte(body))
	if r.Status != http.StatusNotImplemented || !strings.Contains(string(r.Raw), "built without cgo") {
		t.Errorf("status %d %s", r.Status, r.Raw)
	}
}
