package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fhirgate/fhirgate/authz/guard"
	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/validate"
)

// The FHIR REST interactions (rest_read.go, rest_write.go, rest_search.go, rest_history.go,
// rest_patch.go) share this core: one restCall per request, which negotiates the format,
// answers in FHIR JSON with the interaction's headers, and turns every failure into an
// OperationOutcome with its HTTP status. Everything is reachable through the mux with a
// method, a URL, headers and a body, so that a batch can dispatch its entries as requests.

// changeFeed is what type and system history read: the store's change feed.
type changeFeed interface {
	Changes(ctx context.Context, afterSeq int64, limit int) ([]storage.Change, error)
	LastSeq(ctx context.Context) (int64, error)
}

// restAPI serves the FHIR REST interactions over the server's store (the one GraphQL
// mutations write through), search engine and guard.
type restAPI struct {
	cfg Config
}

// The media types of FHIR JSON.
const (
	mimeFHIRJSON  = "application/fhir+json"
	mimeJSON      = "application/json"
	mimeJSONPatch = "application/json-patch+json"
	mimeForm      = "application/x-www-form-urlencoded"
)

// restErr is a failure that carries its own HTTP status: the ones the error policy's kinds
// do not tell (304, 406, 412, 415, 422...).
type restErr struct {
	status int
	issue  string // OperationOutcome.issue.code
	msg    string
}

func (e *restErr) Error() string { return e.msg }

func newRESTErr(status int, issue, format string, args ...any) error {
	return &restErr{status: status, issue: issue, msg: fmt.Sprintf(format, args...)}
}

// restCall is one REST request being answered.
type restCall struct {
	api *restAPI
	w   http.ResponseWriter
	r   *http.Request
	ctx context.Context
	typ string // the {type} of the URL, checked
	id  string // the {id} of the URL

	contentType string // of the answer
	pretty      bool
	summary     string   // _summary
	elements    []string // _elements
}

// handle wraps an interaction: the common checks, the audit note and the error answer.
func (a *restAPI) handle(action, interaction string, fn func(c *restCall) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := &restCall{api: a, w: w, r: r, ctx: r.Context(), typ: r.PathValue("type"), id: r.PathValue("id")}
		noteInteraction(c.ctx, action, interaction)
		err := c.negotiate()
		if err == nil && c.typ != "" && !model.IsResourceType(c.typ) {
			err = newRESTErr(http.StatusNotFound, "not-supported", "Unknown resource type %q.", clipText(c.typ))
		}
		if err == nil {
			err = fn(c)
		}
		if err != nil {
			c.fail(err)
		}
	}
}

// negotiate reads _format, Accept, _pretty, _summary and _elements: FHIR JSON only.
func (c *restCall) negotiate() error {
	q := c.r.URL.Query()
	c.contentType = mimeFHIRJSON
	if f := q.Get("_format"); f != "" {
		switch strings.ToLower(strings.TrimSpace(f)) {
		case "json", mimeFHIRJSON, mimeJSON, "application/json+fhir":
		default:
			return newRESTErr(http.StatusNotAcceptable, "not-supported", "_format %q is not served: this server answers in FHIR JSON (_format=json).", clipText(f))
		}
	} else if accept := c.r.Header.Get("Accept"); accept != "" {
		ct, ok := acceptJSON(accept)
		if !ok {
			return newRESTErr(http.StatusNotAcceptable, "not-supported", "This server answers in FHIR JSON (application/fhir+json); the request accepts %q.", clipText(accept))
		}
		c.contentType = ct
	}
	c.pretty = q.Get("_pretty") == "true"
	c.summary = q.Get("_summary")
	switch c.summary {
	case "", "true", "false", "text", "data", "count":
	default:
		return newRESTErr(http.StatusBadRequest, "invalid", "_summary takes true, false, text, data or count, not %q.", clipText(c.summary))
	}
	if e := q.Get("_elements"); e != "" {
		for _, name := range strings.Split(e, ",") {
			if name = strings.TrimSpace(name); name != "" {
				c.elements = append(c.elements, name)
			}
		}
	}
	return nil
}

// acceptJSON returns the media type to answer with for an Accept header, and false when it
// accepts no JSON.
func acceptJSON(accept string) (string, bool) {
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || params["q"] == "0" {
			continue
		}
		switch mt {
		case mimeFHIRJSON, "application/json+fhir", "*/*", "application/*":
			return mimeFHIRJSON, true
		case mimeJSON:
			return mimeJSON, true
		}
	}
	return "", false
}

// fail answers err as an OperationOutcome with its status, under the error policy.
func (c *restCall) fail(err error) {
	status, body := restFailure(err)
	noteCode(c.ctx, status)
	if status == http.StatusNotModified {
		c.w.WriteHeader(http.StatusNotModified)
		return
	}
	if status == http.StatusInternalServerError {
		c.api.cfg.Logger.ErrorContext(c.ctx, "fhir interaction failed", "method", c.r.Method, "path", c.r.URL.Path, "error", err)
	}
	c.writeJSON(status, body)
}

// restFailure is the status and OperationOutcome of a failed interaction, under the error
// policy: a restErr's own, a refused resource's whole outcome (422), else its class's. A
// bundle's entries fail the same way.
func restFailure(err error) (int, any) {
	var re *restErr
	var oo withOutcome
	switch {
	case errors.As(err, &re):
		return re.status, outcomeJSON("error", re.issue, re.msg)
	case errors.Is(err, fault.Invalid) && errors.As(err, &oo):
		// A resource validation refused: its whole OperationOutcome, written for the client.
		return http.StatusUnprocessableEntity, oo.OperationOutcome()
	}
	cl, ok := classify(err)
	if !ok {
		return http.StatusInternalServerError, outcomeJSON("error", "exception", "internal server error")
	}
	status := restStatus[cl.code]
	if status == 0 {
		status = http.StatusInternalServerError
	}
	return status, outcomeJSON("error", cl.issueType, cl.clientMessage(err))
}

// writeJSON answers v as JSON, HTML characters unescaped (a narrative keeps its bytes).
func (c *restCall) writeJSON(status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		c.api.cfg.Logger.ErrorContext(c.ctx, "fhir answer", "error", err)
		status = http.StatusInternalServerError
		buf.Reset()
		json.NewEncoder(&buf).Encode(outcomeJSON("error", "exception", "internal server error"))
	}
	c.writeRaw(status, bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

// writeRaw answers with JSON bytes, indented under _pretty=true.
func (c *restCall) writeRaw(status int, body []byte) {
	if c.pretty {
		var buf bytes.Buffer
		if json.Indent(&buf, body, "", "  ") == nil {
			body = buf.Bytes()
		}
	}
	c.w.Header().Set("Content-Type", c.contentType+"; charset=utf-8")
	c.w.WriteHeader(status)
	c.w.Write(body)
}

// base returns the absolute URL of the FHIR base the request came through, with the
// datastore's prefix: http://host/fhir or http://host/ds/x/fhir.
func (c *restCall) base() string { return baseURL(c.r, c.api.cfg) + "/fhir" }

// versionHeaders sets ETag and Last-Modified of a stored version.
func (c *restCall) versionHeaders(rec *storage.Record) {
	c.w.Header().Set("ETag", etag(rec.VersionID))
	c.w.Header().Set("Last-Modified", rec.LastUpdated.UTC().Format(http.TimeFormat))
}

func etag(v int64) string { return `W/"` + strconv.FormatInt(v, 10) + `"` }

// parseETag reads a version from an ETag (W/"3", "3") or a bare version number.
func parseETag(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "W/")
	s = strings.TrimSuffix(strings.TrimPrefix(s, `"`), `"`)
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil && v > 0
}

// resourceOut returns a stored version as the caller may see it: redacted under the field
// policy, then cut to _summary and _elements.
func (c *restCall) resourceOut(rec *storage.Record) ([]byte, error) {
	out, err := guard.Redact(c.ctx, rec.Type, rec.JSON)
	if err != nil {
		return nil, err
	}
	return c.subset(rec.Type, out)
}

// writeResource answers with one stored version and its headers.
func (c *restCall) writeResource(status int, rec *storage.Record) error {
	body, err := c.resourceOut(rec)
	if err != nil {
		return err
	}
	c.versionHeaders(rec)
	c.writeRaw(status, body)
	return nil
}

// readBody returns the request's resource: FHIR JSON of the URL's type.
func (c *restCall) readBody(wantType string) ([]byte, error) {
	if err := c.requireJSON(); err != nil {
		return nil, err
	}
	body, err := readAll(c.r)
	if err != nil {
		return nil, err
	}
	var head struct {
		ResourceType string `json:"resourceType"`
	}
	if err := json.Unmarshal(body, &head); err != nil {
		return nil, newRESTErr(http.StatusBadRequest, "structure", "The body is not a FHIR resource in JSON.")
	}
	if wantType != "" && head.ResourceType != wantType {
		return nil, newRESTErr(http.StatusBadRequest, "invalid", "The body is a %q resource; this URL takes a %s.", clipText(head.ResourceType), wantType)
	}
	return body, nil
}

// requireJSON refuses a body in anything but JSON with 415.
func (c *restCall) requireJSON(also ...string) error {
	ct := c.r.Header.Get("Content-Type")
	if ct == "" {
		return nil // curl and some clients send none: read it as FHIR JSON
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil {
		switch mt {
		case mimeFHIRJSON, mimeJSON, "application/json+fhir":
			return nil
		}
		for _, a := range also {
			if mt == a {
				return nil
			}
		}
	}
	return newRESTErr(http.StatusUnsupportedMediaType, "not-supported", "This server reads FHIR JSON (application/fhir+json), not %q.", clipText(ct))
}

// readAll reads the request body; the server's body limit has already bounded it.
func readAll(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, newRESTErr(http.StatusBadRequest, "required", "The request has no body.")
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r.Body); err != nil {
		return nil, newRESTErr(http.StatusBadRequest, "invalid", "The request body could not be read.")
	}
	if buf.Len() == 0 {
		return nil, newRESTErr(http.StatusBadRequest, "required", "The request has no body.")
	}
	return buf.Bytes(), nil
}

// decodeResource decodes a resource body strictly. What the model refuses the validator
// locates, so the client gets one OperationOutcome (422) listing every problem, as for a
// write that validation refuses.
func decodeResource(body []byte) (model.Resource, error) {
	res, err := model.Unmarshal(body)
	if err == nil {
		return res, nil
	}
	if v, verr := validate.Default(); verr == nil {
		if out := v.Validate(body); out.HasErrors() {
			return nil, &validate.Error{Outcome: out}
		}
	}
	return nil, newRESTErr(http.StatusBadRequest, "structure", "The body is not a valid FHIR resource.")
}

// newID returns a random 128-bit id in hex, as the GraphQL create uses: unguessable.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// clipText bounds client text quoted back in a message.
func clipText(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	for i := max; i > 0; i-- {
		if s[i]&0xC0 != 0x80 {
			return s[:i] + "..."
		}
	}
	return ""
}

// httpTime parses an HTTP date header.
func httpTime(s string) (time.Time, bool) {
	t, err := http.ParseTime(s)
	return t, err == nil
}

// noteInteraction names the REST interaction in the request's audit trail.
func noteInteraction(ctx context.Context, action, interaction string) {
	if t := trailFrom(ctx); t != nil {
		t.mu.Lock()
		t.restAction, t.restInteraction = action, interaction
		t.mu.Unlock()
	}
}

// noteCode records a REST answer's failure status in the request's audit trail.
func noteCode(ctx context.Context, status int) {
	t := trailFrom(ctx)
	if t == nil || status < 400 {
		return
	}
	code := "HTTP_" + strconv.Itoa(status)
	if status >= 500 {
		code = "INTERNAL"
	}
	t.mu.Lock()
	t.codes[code]++
	t.mu.Unlock()
}
