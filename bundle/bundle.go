// Package bundle runs FHIR batch and transaction Bundles against a datastore, without HTTP:
// a transaction's writes are planned (processing order, urn:uuid and conditional
// references, conditional creates, updates and deletes, ifMatch) and committed in one
// storage commit, all or nothing on every engine; a batch runs each entry on its own. Reads
// (GET and HEAD entries) go to a Reader, which the REST layer answers.
package bundle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
)

// DefaultMaxEntries is the most entries a bundle may hold unless configured otherwise.
const DefaultMaxEntries = 10_000

// ErrInvalid reports a bundle, or an entry, that is wrong in itself. Its messages are
// written for the client.
var ErrInvalid = fault.New(fault.Invalid, "invalid bundle")

// errTooMany reports a bundle over the entry limit.
var errTooMany = fault.New(fault.TooMany, "too many entries")

// errPrecondition reports a conditional interaction whose search matched more than one
// resource, which FHIR answers with 412 Precondition Failed.
var errPrecondition = fault.New(fault.Conflict, "precondition failed")

// errNotFound reports a resource an entry acts on that does not exist (or that the caller
// may not see).
var errNotFound = fault.New(fault.NotFound, "not found")

// errUnsupported reports an interaction bundles do not run here.
var errUnsupported = fault.New(fault.Unsupported, "not supported")

// Store is what bundles need of a datastore; *storage.Store is one. Its methods behave as
// the storage methods of the same names document.
type Store interface {
	ReadMany(ctx context.Context, typ string, ids []string) (map[string]*storage.Record, error)
	Commit(ctx context.Context, writes []storage.Write) ([]*storage.Record, error)
	search.Store
}

// Policy decides what the caller in ctx may do. Each entry is checked for its own
// interaction; the patient compartment needs no check here, since storage applies the
// scope in ctx to every read, search and write.
type Policy interface {
	// CheckType returns an error unless the caller may do act (authz.ActCreate, ...) on
	// resources of typ.
	CheckType(ctx context.Context, typ, act string) error
	// CheckSearch returns an error unless the caller may search by everything q names.
	CheckSearch(ctx context.Context, q *search.Query) error
}

// Reader answers a read entry (GET or HEAD) as the REST API answers the same request.
type Reader interface {
	Read(ctx context.Context, req Request) Response
}

// Request is one entry's request, as the REST API would receive it.
type Request struct {
	// Method is GET or HEAD; URL is relative to the server's FHIR base ("Patient/1",
	// "Observation?code=x").
	Method, URL string
	// The conditional headers the entry carries.
	IfNoneMatch, IfModifiedSince, IfMatch, IfNoneExist string
}

// Response is the REST API's answer to a Request.
type Response struct {
	Status int
	// Location, ETag and LastModified are the response's headers of those names.
	Location, ETag, LastModified string
	// Body is the response's resource (the one read, a searchset Bundle or an
	// OperationOutcome), nil when there is none.
	Body []byte
}

// Patcher applies a FHIR patch: a JSON Patch carried by a Binary entry, or a FHIRPath
// Patch carried by a Parameters entry.
type Patcher interface {
	// Patch returns the resource current (JSON) with patch (the entry's resource, JSON)
	// applied.
	Patch(ctx context.Context, current, patch []byte) ([]byte, error)
}

// Outcome is what the client is told of a failure: a status and an OperationOutcome
// (FHIR JSON) that reveal nothing the caller may not know.
type Outcome struct {
	Status  int
	Outcome []byte
}

// Processor runs bundles on one datastore. Its zero value is not usable: Store is required.
type Processor struct {
	Store Store
	// Policy checks each entry; nil checks nothing (authentication off).
	Policy Policy
	// Reads answers GET and HEAD entries; nil answers them 501.
	Reads Reader
	// Patch applies PATCH entries; nil answers them 501.
	Patch Patcher
	// Describe tells the client about err under the server's error policy; nil tells the
	// kind of failure only.
	Describe func(err error) Outcome
	// MaxEntries is the most entries a bundle may hold; zero is DefaultMaxEntries.
	MaxEntries int
	// KeepIDs makes a create (POST) whose resource has an id create it at that id, or
	// update it when it exists, as a bulk import that keeps client ids does; otherwise the
	// server assigns ids, as FHIR create does.
	KeepIDs bool
	// SkipUnchanged leaves alone a resource that a create or update would store unchanged
	// apart from meta, so that loading the same data twice writes no new versions.
	SkipUnchanged bool
	// NewID returns a fresh resource id; nil uses 128 random bits in hex.
	NewID func() string
	// Observe, when set, learns of each write entry of a committed transaction or batch:
	// the resource type, and whether the entry wrote a new version (false: it left the
	// resource as it was, as a conditional create that matched or an unchanged resource).
	Observe func(typ string, wrote bool)
}

// Return is what a client asked write entries to return (Prefer: return=...).
type Return string

// The answers a client may prefer.
const (
	ReturnRepresentation Return = "representation" // the resource (the default)
	ReturnMinimal        Return = "minimal"        // status and headers only
	ReturnOutcome        Return = "OperationOutcome"
)

// Bundle types.
const (
	typeTransaction = "transaction"
	typeBatch       = "batch"
)

// rawBundle is a Bundle as bundles read it: entries with their resources as JSON.
type rawBundle struct {
	ResourceType string     `json:"resourceType"`
	Type         string     `json:"type"`
	Entry        []rawEntry `json:"entry"`
}

type rawEntry struct {
	FullURL  string          `json:"fullUrl"`
	Resource json.RawMessage `json:"resource"`
	Request  *struct {
		Method          string `json:"method"`
		URL             string `json:"url"`
		IfNoneMatch     string `json:"ifNoneMatch"`
		IfModifiedSince string `json:"ifModifiedSince"`
		IfMatch         string `json:"ifMatch"`
		IfNoneExist     string `json:"ifNoneExist"`
	} `json:"request"`
}

// Run runs a batch or transaction Bundle (FHIR JSON) and returns its batch-response or
// transaction-response Bundle. A transaction that fails returns an *EntryError when one of
// its entries failed it (the caller reports its Outcome), and commits nothing; a batch
// fails only as a whole (a bundle that is not a batch), its entries' failures being in
// their responses.
func (p *Processor) Run(ctx context.Context, body []byte, ret Return) (*model.Bundle, error) {
	var b rawBundle
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, jsonProblem(err))
	}
	if b.ResourceType != "Bundle" {
		return nil, fmt.Errorf("%w: resourceType is %q, not Bundle", ErrInvalid, b.ResourceType)
	}
	if max := p.maxEntries(); len(b.Entry) > max {
		return nil, fmt.Errorf("%w: the bundle holds %d entries, more than the limit of %d", errTooMany, len(b.Entry), max)
	}
	switch b.Type {
	case typeTransaction:
		return p.transaction(ctx, b.Entry, ret)
	case typeBatch:
		return p.batch(ctx, b.Entry, ret), nil
	}
	return nil, fmt.Errorf("%w: type %q: this endpoint runs batch and transaction bundles", ErrInvalid, b.Type)
}

func (p *Processor) maxEntries() int {
	if p.MaxEntries > 0 {
		return p.MaxEntries
	}
	return DefaultMaxEntries
}

// jsonProblem says what is wrong with a bundle's JSON without echoing its content.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("%s must be a JSON %s", te.Field, jsonKind(te.Type.Kind().String()))
	}
	return "malformed JSON"
}

func jsonKind(k string) string {
	switch k {
	case "slice":
		return "array"
	case "struct", "map":
		return "object"
	}
	return k
}

// EntryError is the error of a transaction that one of its entries failed; nothing of the
// transaction was committed.
type EntryError struct {
	// Index is the entry's position in the bundle, from 0; FullURL its fullUrl, if any.
	Index   int
	FullURL string
	// Err is why it failed.
	Err error
	// Outcome is what the client is told: the failure as Describe tells it, with the entry
	// named.
	Outcome Outcome
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("bundle: %s: %v", e.where(), e.Err)
}

func (e *EntryError) Unwrap() error { return e.Err }

// where names the entry as the client wrote it.
func (e *EntryError) where() string {
	s := "Bundle.entry[" + strconv.Itoa(e.Index) + "]"
	if e.FullURL != "" {
		s += " (fullUrl " + e.FullURL + ")"
	}
	return s
}

// Message returns what the client is told of the failure, in one line: the entry and the
// first issue's text.
func (e *EntryError) Message() string {
	var oo struct {
		Issue []struct {
			Diagnostics string `json:"diagnostics"`
		} `json:"issue"`
	}
	_ = json.Unmarshal(e.Outcome.Outcome, &oo)
	if len(oo.Issue) > 0 && oo.Issue[0].Diagnostics != "" {
		return oo.Issue[0].Diagnostics
	}
	return e.where() + " failed"
}

// statusText is the reason phrase of the statuses bundles report.
var statusText = map[int]string{
	200: "OK", 201: "Created", 204: "No Content", 304: "Not Modified", 400: "Bad Request",
	403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 410: "Gone",
	412: "Precondition Failed", 413: "Payload Too Large", 422: "Unprocessable Entity",
	500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable",
}

// status formats an entry's response status as FHIR writes it: "201 Created".
func status(code int) string {
	if t := statusText[code]; t != "" {
		return strconv.Itoa(code) + " " + t
	}
	return strconv.Itoa(code)
}

// describe tells the client about err: through Describe, with the statuses FHIR gives a
// failed precondition.
func (p *Processor) describe(err error) Outcome {
	var o Outcome
	if p.Describe != nil {
		o = p.Describe(err)
	} else {
		o = plainOutcome(err)
	}
	if errors.Is(err, fault.Conflict) {
		o.Status = 412 // a stale ifMatch, or a conditional search matching several
	}
	return o
}

// plainOutcome tells the kind of failure and nothing else.
func plainOutcome(err error) Outcome {
	kinds := []struct {
		kind   error
		status int
		issue  string
	}{
		{fault.Invalid, 400, "invalid"}, {fault.NotFound, 404, "not-found"}, {fault.Deleted, 410, "deleted"},
		{fault.Conflict, 409, "conflict"}, {fault.Exists, 409, "duplicate"}, {fault.TooMany, 400, "too-costly"},
		{fault.Unsupported, 501, "not-supported"}, {fault.TooComplex, 400, "too-costly"}, {fault.Forbidden, 403, "forbidden"},
	}
	for _, k := range kinds {
		if errors.Is(err, k.kind) {
			msg, ok := fault.ClientDetail(err, k.kind)
			if !ok {
				msg = k.kind.Error()
			}
			return Outcome{Status: k.status, Outcome: outcomeJSON(k.issue, msg, "")}
		}
	}
	return Outcome{Status: 500, Outcome: outcomeJSON("exception", "internal server error", "")}
}

// outcomeJSON is an OperationOutcome with one error issue.
func outcomeJSON(issue, msg, expression string) []byte {
	i := map[string]any{"severity": "error", "code": issue, "diagnostics": msg}
	if expression != "" {
		i["expression"] = []string{expression}
	}
	b, _ := json.Marshal(map[string]any{"resourceType": "OperationOutcome", "issue": []any{i}})
	return b
}

// entryFailure returns the EntryError of entry i failing with err, its outcome naming the
// entry: each issue's diagnostics start with it, and its expression (where the issue had
// one, inside the entry's resource) is re-rooted at the entry.
func (p *Processor) entryFailure(i int, fullURL string, err error) *EntryError {
	e := &EntryError{Index: i, FullURL: fullURL, Err: err}
	o := p.describe(err)
	var oo map[string]any
	if json.Unmarshal(o.Outcome, &oo) != nil {
		oo = map[string]any{"resourceType": "OperationOutcome"}
	}
	issues, _ := oo["issue"].([]any)
	root := "Bundle.entry[" + strconv.Itoa(i) + "]"
	for _, x := range issues {
		issue, ok := x.(map[string]any)
		if !ok {
			continue
		}
		d, _ := issue["diagnostics"].(string)
		issue["diagnostics"] = strings.TrimSuffix(e.where()+": "+d, ": ")
		var exprs []any
		if old, ok := issue["expression"].([]any); ok {
			for _, x := range old {
				if s, ok := x.(string); ok {
					exprs = append(exprs, reroot(root, s))
				}
			}
		}
		if len(exprs) == 0 {
			exprs = []any{root}
		}
		issue["expression"] = exprs
	}
	o.Outcome, _ = json.Marshal(oo)
	e.Outcome = o
	return e
}

// reroot moves a FHIRPath expression about a resource ("Patient.name[0]") under the entry
// that holds it ("Bundle.entry[2].resource.name[0]").
func reroot(entry, expr string) string {
	t, rest, _ := strings.Cut(expr, ".")
	if !model.IsResourceType(t) {
		return entry + ".resource." + expr
	}
	if rest == "" {
		return entry + ".resource"
	}
	return entry + ".resource." + rest
}
