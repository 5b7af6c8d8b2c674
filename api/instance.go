package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/fhirgate/fhirgate/model"
)

// instanceAlias is the alias under which the instance-level query reads its resource.
const instanceAlias = "fhirInstance"

// instanceHandler serves /{type}/{id}/$graphql, where the query's root is the resource itself:
// `{ name { family } }` on /Patient/1/$graphql. It wraps the selection in `Patient(id: "1")`,
// runs it through the GraphQL handler, and unwraps the answer. It sits behind authentication
// (see newGraphQL), so no query is parsed for a caller without a valid token; gql is the
// GraphQL handler after authentication.
type instanceHandler struct{ gql http.Handler }

type graphQLRequest struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName,omitempty"`
	Variables     map[string]any `json:"variables,omitempty"`
}

func (h *instanceHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	typ, id := r.PathValue("type"), r.PathValue("id")
	if !model.IsResourceType(typ) {
		writeOutcome(w, http.StatusNotFound, "not-supported", fmt.Sprintf("%q is not a resource type", typ))
		return
	}
	if !model.ValidID(id) {
		writeOutcome(w, http.StatusBadRequest, "invalid", "the id in the path is not a valid FHIR id")
		return
	}
	var req graphQLRequest
	switch r.Method {
	case http.MethodGet:
		req.Query = r.URL.Query().Get("query")
		req.OperationName = r.URL.Query().Get("operationName")
		if v := r.URL.Query().Get("variables"); v != "" {
			if err := json.Unmarshal([]byte(v), &req.Variables); err != nil {
				writeOutcome(w, http.StatusBadRequest, "invalid", "variables are not a JSON object")
				return
			}
		}
	case http.MethodPost:
		dec := json.NewDecoder(r.Body)
		dec.UseNumber()
		if err := dec.Decode(&req); err != nil {
			writeOutcome(w, http.StatusBadRequest, "invalid", "the request body is not a GraphQL JSON request")
			return
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		writeOutcome(w, http.StatusMethodNotAllowed, "not-supported", "use GET or POST")
		return
	}
	query, err := wrapInstance(req.Query, typ, id)
	if err != nil {
		writeOutcome(w, http.StatusBadRequest, "invalid", err.Error())
		return
	}
	req.Query = query
	body, _ := json.Marshal(req)
	inner := r.Clone(r.Context())
	inner.Method = http.MethodPost
	inner.URL.RawQuery = ""
	inner.Header.Set("Content-Type", "application/json")
	inner.Body = io.NopCloser(bytes.NewReader(body))
	inner.ContentLength = int64(len(body))
	rec := httptest.NewRecorder()
	h.gql.ServeHTTP(rec, inner)
	unwrapInstance(w, rec)
}

// wrapInstance nests every query operation's selection under the resource read.
func wrapInstance(query, typ, id string) (string, error) {
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil {
		return "", fmt.Errorf("query syntax: %v", err)
	}
	for _, op := range doc.Operations {
		if op.Operation != ast.Query {
			return "", fmt.Errorf("the instance-level endpoint only runs queries")
		}
		op.SelectionSet = ast.SelectionSet{&ast.Field{
			Alias: instanceAlias,
			Name:  typ,
			Arguments: ast.ArgumentList{{
				Name:  "id",
				Value: &ast.Value{Kind: ast.StringValue, Raw: id},
			}},
			SelectionSet: op.SelectionSet,
		}}
	}
	var buf bytes.Buffer
	formatter.NewFormatter(&buf).FormatQueryDocument(doc)
	return buf.String(), nil
}

// unwrapInstance copies the system-level answer, lifting data.fhirInstance to data and removing
// the wrapper from error paths. A missing resource answers 404.
func unwrapInstance(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	var resp struct {
		Data       map[string]json.RawMessage `json:"data"`
		Errors     []map[string]any           `json:"errors,omitempty"`
		Extensions map[string]any             `json:"extensions,omitempty"`
	}
	status := rec.Code
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		w.Write(rec.Body.Bytes())
		return
	}
	for _, k := range []string{"WWW-Authenticate", "Retry-After"} {
		if v := rec.Header().Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	out := map[string]any{}
	if resp.Data != nil {
		data := resp.Data[instanceAlias]
		if data == nil || string(data) == "null" {
			out["data"] = nil
		} else {
			out["data"] = data
		}
	}
	for _, e := range resp.Errors {
		if path, ok := e["path"].([]any); ok && len(path) > 0 && path[0] == instanceAlias {
			if len(path) == 1 {
				delete(e, "path")
				if ext, ok := e["extensions"].(map[string]any); ok && ext["code"] == "NOT_FOUND" {
					status = http.StatusNotFound
				}
			} else {
				e["path"] = path[1:]
			}
		}
	}
	if len(resp.Errors) > 0 {
		out["errors"] = resp.Errors
	}
	if resp.Extensions != nil {
		out["extensions"] = resp.Extensions
	}
	b, _ := json.Marshal(out)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}
