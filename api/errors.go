package api

import (
	"context"
	"errors"
	"log/slog"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/resolvers"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
)

// errorClass maps a sentinel error to its GraphQL extensions code and FHIR issue type.
type errorClass struct {
	target    error
	code      string // errors[].extensions.code
	issueType string // OperationOutcome.issue.code
}

// errorClasses is the one table of error policy: what callers are told for each kind of failure.
// Anything not listed is an internal error: logged, and reported without detail.
var errorClasses = []errorClass{
	{model.ErrInvalid, "BAD_USER_INPUT", "invalid"},
	{resolvers.ErrBadRequest, "BAD_USER_INPUT", "invalid"},
	{errBadArgument, "BAD_USER_INPUT", "invalid"},
	{storage.ErrInvalid, "BAD_USER_INPUT", "invalid"},
	{storage.ErrNotFound, "NOT_FOUND", "not-found"},
	{storage.ErrDeleted, "GONE", "deleted"},
	{resolvers.ErrUnresolvable, "NOT_FOUND", "not-found"},
	{storage.ErrConflict, "CONFLICT", "conflict"},
	{storage.ErrExists, "CONFLICT", "duplicate"},
	{resolvers.ErrTooMany, "TOO_MANY_RESULTS", "too-costly"},
	{search.ErrTooMany, "TOO_MANY_RESULTS", "too-costly"},
	{storage.ErrTooMany, "TOO_MANY_RESULTS", "too-costly"},
	{search.ErrInvalid, "BAD_USER_INPUT", "invalid"},
	{search.ErrUnsupported, "NOT_SUPPORTED", "not-supported"},
	{errTooComplex, "QUERY_TOO_COMPLEX", "too-costly"},
	{errForbidden, "FORBIDDEN", "forbidden"},
	{storage.ErrForbidden, "FORBIDDEN", "forbidden"},
	{context.DeadlineExceeded, "TIMEOUT", "timeout"},
}

// presentError turns any error into a GraphQL error carrying an OperationOutcome in
// extensions.resource. Internal errors are logged and replaced by a generic message, so no
// detail of the server (or of the data) leaks to the caller.
func presentError(logger *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gerr := graphql.DefaultErrorPresenter(ctx, err)
		var code, issueType string
		for _, c := range errorClasses {
			if errors.Is(err, c.target) {
				code, issueType = c.code, c.issueType
				break
			}
		}
		switch {
		case code != "":
		case isGraphQLError(err):
			// Parse and validation errors from gqlgen describe the query, not the server.
			code, issueType = "GRAPHQL_VALIDATION_FAILED", "invalid"
			if gerr.Extensions != nil {
				if c, ok := gerr.Extensions["code"].(string); ok {
					code = c
				}
			}
		default:
			logger.ErrorContext(ctx, "graphql resolver failed", "path", gerr.Path.String(), "error", err)
			code, issueType = "INTERNAL", "exception"
			gerr.Message = "internal server error"
		}
		if gerr.Extensions == nil {
			gerr.Extensions = map[string]any{}
		}
		gerr.Extensions["code"] = code
		gerr.Extensions["resource"] = outcomeJSON("error", issueType, gerr.Message)
		return gerr
	}
}

// isGraphQLError reports errors gqlgen raised about the request itself (no wrapped cause).
func isGraphQLError(err error) bool {
	var gerr *gqlerror.Error
	return errors.As(err, &gerr) && gerr.Unwrap() == nil
}

// outcomeJSON is an OperationOutcome with one issue, as a JSON-ready map.
func outcomeJSON(severity, code, diagnostics string) map[string]any {
	return map[string]any{
		"resourceType": "OperationOutcome",
		"issue": []any{map[string]any{
			"severity":    severity,
			"code":        code,
			"diagnostics": diagnostics,
		}},
	}
}
