package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/fhirgate/fhirgate/fault"
)

// errorClass maps a kind of failure (see package fault) to what the caller is told: its
// GraphQL extensions code, its FHIR issue type and a plain sentence. Error chains carry
// internal detail (storage paths, driver messages, ids of resources the caller may not see),
// so the caller gets the sentence and the log keeps the chain. Errors about the caller's own
// request (a malformed resource, a search parameter that does not exist) are worth more with
// their detail: when the error's sentinel is public (fault.New), the caller gets the
// sentinel's message and what its producer appended to it, never the wrappers above it.
type errorClass struct {
	target    error
	code      string     // errors[].extensions.code
	issueType string     // OperationOutcome.issue.code
	message   string     // the sentence the caller gets without a public detail
	logLevel  slog.Level // the level at which the chain is logged when the caller is told less
}

// errorClasses is the one table of error policy: one row per kind of failure. The first class
// that matches decides. Anything not listed is an internal error: logged, and reported without
// detail.
var errorClasses = []errorClass{
	// A request that ran out of time is a timeout, whatever failed on the way.
	{context.DeadlineExceeded, "TIMEOUT", "timeout", "The request took longer than the server allows.", slog.LevelWarn},
	{errPanicked, "INTERNAL", "exception", "internal server error", slog.LevelDebug}, // logged once per request by panicLog
	{fault.Invalid, "BAD_USER_INPUT", "invalid", "The request is not valid.", slog.LevelDebug},
	{fault.NotFound, "NOT_FOUND", "not-found", "The resource does not exist.", slog.LevelDebug},
	{fault.Deleted, "GONE", "deleted", "The resource has been deleted.", slog.LevelDebug},
	{fault.Conflict, "CONFLICT", "conflict", "The resource was changed by another request; read it again and retry.", slog.LevelDebug},
	{fault.Exists, "CONFLICT", "duplicate", "The resource already exists.", slog.LevelDebug},
	{fault.TooMany, "TOO_MANY_RESULTS", "too-costly", "Too many resources match; narrow the search or page through it.", slog.LevelDebug},
	{fault.Unsupported, "NOT_SUPPORTED", "not-supported", "The search uses a feature this server does not support.", slog.LevelDebug},
	{fault.TooComplex, "QUERY_TOO_COMPLEX", "too-costly", "The query is too complex.", slog.LevelDebug},
	{fault.Forbidden, "FORBIDDEN", "forbidden", "Not permitted: the request reaches outside what the caller may access.", slog.LevelDebug},
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

// clientMessage is what the caller is told about err of class c: the public detail of its
// kind (see fault.ClientDetail), else the class's sentence.
func (c errorClass) clientMessage(err error) string {
	if msg, ok := fault.ClientDetail(err, c.target); ok {
		return msg
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
		// A refused write's whole OperationOutcome is its own data, written for the client.
		var oo withOutcome
		if ok && c.target == fault.Invalid && errors.As(err, &oo) {
			gerr.Extensions["resource"] = oo.OperationOutcome()
		}
		return gerr
	}
}

// withOutcome is an error that carries a whole OperationOutcome for the client, such as a
// write refused by validation (validate.Error).
type withOutcome interface {
	error
	OperationOutcome() map[string]any
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

// answered is a transport whose every query and mutation gets a response. When an
// operation's deadline passes before it runs, gqlgen's executor returns no response (its
// end-of-stream signal), which POST and GET would write as a bare JSON null and a websocket
// as a complete message alone; answered replies with the deadline's error (TIMEOUT) first.
// A subscription's stream ends as the executor says: its context ends when it is stopped.
type answered struct{ graphql.Transport }

// Do serves the request through the wrapped transport.
func (t answered) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	t.Transport.Do(w, r, answeringExecutor{exec})
}

// answeringExecutor turns a query's or mutation's missing first response into its context's
// error.
type answeringExecutor struct{ graphql.GraphExecutor }

// DispatchOperation runs the operation, answering with ctx's error when the executor gives
// no first response because ctx ended.
func (e answeringExecutor) DispatchOperation(ctx context.Context, oc *graphql.OperationContext) (graphql.ResponseHandler, context.Context) {
	respond, ctx := e.GraphExecutor.DispatchOperation(ctx, oc)
	if oc.Operation == nil || oc.Operation.Operation == ast.Subscription {
		return respond, ctx
	}
	first := true
	return func(ctx context.Context) *graphql.Response {
		resp := respond(ctx)
		if resp == nil && first && ctx.Err() != nil {
			resp = e.DispatchError(ctx, gqlerror.List{gqlerror.Wrap(ctx.Err())})
		}
		first = false
		return resp
	}, ctx
}
