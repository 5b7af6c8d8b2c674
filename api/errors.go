package api

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/resolvers"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
)

// errorClass maps a sentinel error to what the caller is told: its GraphQL extensions code,
// its FHIR issue type and a plain sentence. Error chains carry internal detail (storage
// paths, driver messages, ids of resources the caller may not see), so the caller gets the
// sentence and the log keeps the chain. Errors about the caller's own request (a malformed
// resource, a search parameter that does not exist) are worth more with their detail: for
// those classes the caller gets the sentinel's message and what its producer appended to it,
// never the wrappers above it.
type errorClass struct {
	target    error
	code      string     // errors[].extensions.code
	issueType string     // OperationOutcome.issue.code
	message   string     // the sentence the caller gets
	detail    bool       // the caller gets the sentinel's own detail instead
	logLevel  slog.Level // the level at which the chain is logged when the caller is told less
}

// errorClasses is the one table of error policy: what callers are told for each kind of failure.
// The first class that matches decides. Anything not listed is an internal error: logged, and
// reported without detail.
var errorClasses = []errorClass{
	// A request that ran out of time is a timeout, whatever failed on the way.
	{context.DeadlineExceeded, "TIMEOUT", "timeout", "The request took longer than the server allows.", false, slog.LevelWarn},
	{errPanicked, "INTERNAL", "exception", "internal server error", false, slog.LevelDebug}, // logged once per request by panicLog
	{model.ErrInvalid, "BAD_USER_INPUT", "invalid", "The resource is not valid FHIR.", true, slog.LevelDebug},
	{resolvers.ErrBadRequest, "BAD_USER_INPUT", "invalid", "The arguments are not valid.", true, slog.LevelDebug},
	{errBadArgument, "BAD_USER_INPUT", "invalid", "The arguments are not valid.", true, slog.LevelDebug},
	{storage.ErrInvalid, "BAD_USER_INPUT", "invalid", "The request is not valid.", false, slog.LevelDebug},
	{storage.ErrNotFound, "NOT_FOUND", "not-found", "The resource does not exist.", false, slog.LevelDebug},
	{storage.ErrDeleted, "GONE", "deleted", "The resource has been deleted.", false, slog.LevelDebug},
	{resolvers.ErrUnresolvable, "NOT_FOUND", "not-found", "The reference does not resolve to a resource on this server.", false, slog.LevelDebug},
	{storage.ErrConflict, "CONFLICT", "conflict", "The resource was changed by another request; read it again and retry.", false, slog.LevelDebug},
	{storage.ErrExists, "CONFLICT", "duplicate", "The resource already exists.", false, slog.LevelDebug},
	{resolvers.ErrTooMany, "TOO_MANY_RESULTS", "too-costly", "Too many resources match; narrow the search or page through it.", true, slog.LevelDebug},
	{search.ErrTooMany, "TOO_MANY_RESULTS", "too-costly", "Too many resources match; narrow the search or page through it.", true, slog.LevelDebug},
	{storage.ErrTooMany, "TOO_MANY_RESULTS", "too-costly", "Too many resources match; narrow the search or page through it.", false, slog.LevelDebug},
	{search.ErrInvalid, "BAD_USER_INPUT", "invalid", "The search is not valid.", true, slog.LevelDebug},
	{search.ErrUnsupported, "NOT_SUPPORTED", "not-supported", "The search uses a feature this server does not support.", true, slog.LevelDebug},
	{errTooComplex, "QUERY_TOO_COMPLEX", "too-costly", "The query is too complex.", true, slog.LevelDebug},
	{errForbidden, "FORBIDDEN", "forbidden", "Not permitted.", true, slog.LevelDebug}, // the guard's messages name schema coordinates only
	{storage.ErrForbidden, "FORBIDDEN", "forbidden", "Not permitted: the request reaches outside what the caller may access.", false, slog.LevelDebug},
}

// classify returns the class of err, if any.
func classify(err error) (errorClass, bool) {
	for _, c := range errorClasses {
		if errors.Is(err, c.target) {
			return c, true
		}
	}
	return errorClass{}, false
}

// clientMessage is what the caller is told about err of class c: the class's sentence, or
// for a class that shows detail, the text from the sentinel's message on (the sentinel and
// what its producer appended), never what wrappers put before it.
func (c errorClass) clientMessage(err error) string {
	if !c.detail {
		return c.message
	}
	own := c.target.Error()
	for e := err; e != nil; e = errors.Unwrap(e) {
		text := e.Error()
		if i := strings.Index(text, own); i >= 0 {
			if strings.TrimSpace(text[i+len(own):]) == "" {
				break // the sentinel alone says less than the sentence
			}
			return text[i:]
		}
	}
	return c.message
}

// presentError turns any error into a GraphQL error carrying an OperationOutcome in
// extensions.resource. The caller gets a stable code and a message fit for them (see
// errorClass); the log keeps what they are not told.
func presentError(logger *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gerr := graphql.DefaultErrorPresenter(ctx, err)
		var code, issueType string
		c, ok := classify(err)
		switch {
		case ok:
			code, issueType = c.code, c.issueType
			if msg := c.clientMessage(err); msg != gerr.Message {
				logger.Log(ctx, c.logLevel, "graphql request failed", "code", code, "path", gerr.Path.String(), "error", err)
				gerr.Message = msg
			}
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
