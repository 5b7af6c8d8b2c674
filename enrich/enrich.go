// Package enrich turns what the clinical NLP pipeline (package nlp) finds in a
// DocumentReference's note into stored FHIR data, in one all-or-nothing commit:
//
//   - an extension per entity on the DocumentReference (layout in extensions.go), and one
//     summary extension naming the pipeline version and what was generated;
//   - a Condition (ICD-10-CM) per distinct condition code, a MedicationStatement (RxNorm
//     when the pipeline found a code, else code.text only) per distinct medication, and an
//     Observation per test with a value, all for the document's subject, linked to the
//     document (Condition.evidence.detail, MedicationStatement.derivedFrom,
//     Observation.derivedFrom) and tagged as NLP-generated (TagSystem);
//   - a Provenance naming the pipeline and its version, whose targets are what was written.
//
// Negated, hypothetical and family-history findings generate no resource: a refuted
// Condition would still match ConditionList(code: ...) for a client that does not filter
// on verificationStatus, which is the mistake this package exists to avoid. They stay on
// the document's extensions with their traits.
//
// Re-running is idempotent: the previous enrichment of the document, whatever pipeline
// version wrote it, is found by its document tag (DocumentTagSystem) and replaced: a
// finding made again keeps its resource id (matched by its identifier), one no longer made
// is deleted, and the Provenance is rewritten.
package enrich

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/nlp"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
)

// Code systems and tags of the enrichment.
const (
	// TagSystem tags every resource the enrichment generates, with code TagGenerated.
	TagSystem    = "http://fhirgate.dev/nlp"
	TagGenerated = "generated"
	// DocumentTagSystem tags every generated resource with the id of its document, which
	// is how a re-run finds the previous enrichment.
	DocumentTagSystem = "http://fhirgate.dev/nlp/document"
	// VersionTagSystem tags every generated resource with the pipeline version.
	VersionTagSystem = "http://fhirgate.dev/nlp/version"
	// FindingSystem is the identifier system of generated resources; the value is
	// "DocumentReference/<id>#<finding key>", stable across re-runs.
	FindingSystem = "http://fhirgate.dev/nlp/finding"

	ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
	RxNorm  = "http://www.nlm.nih.gov/research/umls/rxnorm"
)

// DefaultMaxChars is the default note size limit, in characters (Unicode code points) of
// all of a document's decoded attachments together.
const DefaultMaxChars = 100_000

// DefaultMinScore is the score below which an entity generates no resource.
const DefaultMinScore = 0.5

// ErrBadNote is the error of a note that cannot be analysed: no content, an empty,
// undecodable or non-text attachment, a Binary that cannot be read, a note over the size
// limit. Its messages name the attachment, never its content.
var ErrBadNote = fault.New(fault.Invalid, "the note cannot be analysed")

// Store is what the enrichment needs of a datastore. Every call is made with the caller's
// context, so a scope in it (a patient's compartment) applies to reads and writes alike.
type Store interface {
	Read(ctx context.Context, typ, id string) (*storage.Record, error)
	Commit(ctx context.Context, writes []storage.Write) ([]*storage.Record, error)
	search.Store
}

var _ Store = (*storage.Store)(nil)

// Checker decides whether the caller in ctx may do act (authz.ActRead, ActCreate,
// ActUpdate, ActDelete) on resources of typ; guard.CheckType is one.
type Checker func(ctx context.Context, typ, act string) error

// Enricher analyses DocumentReferences and writes their enrichment.
type Enricher struct {
	// Store is the datastore documents are read from and the enrichment written to.
	Store Store
	// MaxChars is the note size limit in characters; zero or less is DefaultMaxChars.
	MaxChars int
	// Check, when set, vets every read and write for the caller in ctx.
	Check Checker
	// Now is the clock of Provenance.recorded; nil is time.Now.
	Now func() time.Time
}

// Options tune one analysis.
type Options struct {
	// DryRun analyses and plans, but writes nothing.
	DryRun bool
	// MinScore is the score below which an entity generates no resource; zero or less is
	// DefaultMinScore.
	MinScore float64
}

// Finding is an entity found in one of a document's attachments.
type Finding struct {
	// Attachment is the index of the content element the entity was found in.
	Attachment int
	nlp.Entity
}

// Outcome is what an analysis found and wrote.
type Outcome struct {
	// Version is the pipeline version.
	Version string
	// Findings are the entities of every attachment, attachment by attachment.
	Findings []Finding
	// Document is the DocumentReference as written (or, with DryRun, as it would be).
	Document *model.DocumentReference
	// Written names ("Type/id") what was written: the document first, the Provenance last.
	Written []string
	// Deleted names the resources of a previous enrichment deleted.
	Deleted []string
	// Provenance names the Provenance written.
	Provenance string
}

// Analyze reads DocumentReference id, analyses its note and, unless opt.DryRun, writes
// the enrichment in one commit. Errors: storage.ErrNotFound (or ErrDeleted) for a
// document the caller cannot read; ErrBadNote for a note that cannot be analysed; the
// Checker's error for a read or write the caller may not make; the store's errors for a
// commit it refuses (validation, scope, a concurrent change of the document). Whatever
// fails, nothing is written.
func (e *Enricher) Analyze(ctx context.Context, id string, opt Options) (*Outcome, error) {
	if err := e.check(ctx, "DocumentReference", authz.ActRead); err != nil {
		return nil, err
	}
	rec, err := e.Store.Read(ctx, "DocumentReference", id)
	if err != nil {
		return nil, fmt.Errorf("analyze DocumentReference/%s: %w", id, err)
	}
	doc, err := model.UnmarshalAs[*model.DocumentReference](rec.JSON)
	if err != nil {
		return nil, fmt.Errorf("analyze DocumentReference/%s: stored resource: %w", id, err)
	}
	p, err := e.Plan(ctx, doc, opt)
	if err != nil {
		return nil, err
	}
	// The document is replaced only if nobody changed it since it was read.
	writes := append([]storage.Write{{Op: storage.OpPut, Type: "DocumentReference", ID: id, IfMatch: rec.VersionID, Resource: doc}}, p.Writes...)
	if err := e.checkWrites(ctx, writes); err != nil {
		return nil, err
	}
	if !opt.DryRun {
		if _, err := e.Store.Commit(ctx, writes); err != nil {
			return nil, fmt.Errorf("analyze DocumentReference/%s: write the enrichment: %w", id, err)
		}
	}
	return p.Outcome, nil
}

// Plan is an analysis ready to be committed.
type Plan struct {
	// Writes are the generated resources, the deletions of stale ones and the Provenance;
	// the document's own write is the caller's (Plan changes the document in place).
	Writes  []storage.Write
	Outcome *Outcome
}

// Plan analyses doc's note, sets the enrichment's extensions on doc (replacing any
// previous ones) and returns the other writes of the enrichment. It reads the previous
// enrichment only when doc is already stored. Errors as Analyze's, before the commit.
func (e *Enricher) Plan(ctx context.Context, doc *model.DocumentReference, opt Options) (*Plan, error) {
	id := doc.ResourceID()
	findings, err := e.findings(ctx, doc)
	if err != nil {
		return nil, fmt.Errorf("analyze DocumentReference/%s: %w", id, err)
	}
	prev, err := e.previous(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("analyze DocumentReference/%s: previous enrichment: %w", id, err)
	}
	minScore := opt.MinScore
	if minScore <= 0 {
		minScore = DefaultMinScore
	}
	g := &generator{doc: doc, prev: prev, minScore: minScore, now: e.now()}
	gen := g.resources(findings)
	setExtensions(doc, findings, g.links, g.provenanceID())

	out := &Outcome{Version: nlp.Version, Findings: findings, Document: doc, Written: []string{"DocumentReference/" + id}}
	var writes []storage.Write
	for _, r := range gen {
		writes = append(writes, r.write())
		out.Written = append(out.Written, r.typ+"/"+r.id)
	}
	for _, ref := range prev.unused(gen) {
		writes = append(writes, storage.Write{Op: storage.OpDelete, Type: ref.Type, ID: ref.ID})
		out.Deleted = append(out.Deleted, ref.Relative())
	}
	prov := g.provenance(gen)
	writes = append(writes, prov.write())
	out.Provenance = "Provenance/" + prov.id
	out.Written = append(out.Written, out.Provenance)
	return &Plan{Writes: writes, Outcome: out}, nil
}

func (e *Enricher) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Enricher) check(ctx context.Context, typ, act string) error {
	if e.Check == nil {
		return nil
	}
	return e.Check(ctx, typ, act)
}

// checkWrites vets each write: create for a new resource, update for a replaced one,
// delete for a removed one.
func (e *Enricher) checkWrites(ctx context.Context, writes []storage.Write) error {
	for _, w := range writes {
		act := authz.ActUpdate
		switch w.Op {
		case storage.OpCreate:
			act = authz.ActCreate
		case storage.OpDelete:
			act = authz.ActDelete
		}
		if err := e.check(ctx, w.Type, act); err != nil {
			return err
		}
	}
	return nil
}

// findings decodes and analyses every attachment of doc.
func (e *Enricher) findings(ctx context.Context, doc *model.DocumentReference) ([]Finding, error) {
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%w: the document has no content", ErrBadNote)
	}
	texts := make([]string, len(doc.Content))
	total := 0
	for i, c := range doc.Content {
		text, err := e.attachmentText(ctx, c.Attachment)
		if err != nil {
			return nil, fmt.Errorf("%w: content[%d].attachment: %w", ErrBadNote, i, err)
		}
		texts[i] = text
		total += utf8.RuneCountInString(text)
	}
	if max := e.Limit(); total > max {
		return nil, fmt.Errorf("%w: the note has %d characters, more than the limit of %d", ErrBadNote, total, max)
	}
	var out []Finding
	for i, text := range texts {
		res, err := e.pipeline().Analyze(text)
		if errors.Is(err, nlp.ErrTooLong) {
			return nil, fmt.Errorf("%w: content[%d].attachment is longer than the pipeline accepts", ErrBadNote, i)
		} else if err != nil {
			return nil, fmt.Errorf("content[%d].attachment: %w", i, err)
		}
		for _, ent := range res.Entities {
			out = append(out, Finding{Attachment: i, Entity: ent})
		}
	}
	return out, nil
}

// pipeline returns the pipeline's options with the note size limit in force.
func (e *Enricher) pipeline() nlp.Options {
	o := nlp.DefaultOptions
	o.MaxChars = e.Limit()
	return o
}

// AnalyzeText runs the pipeline on text under the note size limit.
func (e *Enricher) AnalyzeText(text string) (*nlp.Result, error) {
	if n, max := utf8.RuneCountInString(text), e.Limit(); n > max {
		return nil, fmt.Errorf("%w: the text has %d characters, more than the limit of %d", ErrBadNote, n, max)
	}
	return e.pipeline().Analyze(text)
}

// Limit returns the note size limit in force, in characters.
func (e *Enricher) Limit() int {
	if e.MaxChars > 0 {
		return e.MaxChars
	}
	return DefaultMaxChars
}

// attachmentText returns the decoded text of an attachment: its data, or the Binary its
// url names. What cannot be read is an error saying why, in words for the client.
func (e *Enricher) attachmentText(ctx context.Context, a *model.Attachment) (string, error) {
	if a == nil {
		return "", errors.New("missing")
	}
	contentType := ""
	if a.ContentType != nil {
		contentType = string(*a.ContentType)
	}
	var data []byte
	switch {
	case a.Data != nil:
		b, err := decodeBase64(string(*a.Data))
		if err != nil {
			return "", errors.New("data is not base64")
		}
		data = b
	case a.Url != nil:
		b, ct, err := e.binary(ctx, string(*a.Url))
		if err != nil {
			return "", err
		}
		data = b
		if contentType == "" {
			contentType = ct
		}
	default:
		return "", errors.New("has neither data nor url")
	}
	text, err := nlp.Decode(contentType, data)
	if err != nil {
		return "", fmt.Errorf("cannot be decoded as text (content type %q)", contentType)
	}
	if strings.TrimSpace(text) == "" {
		return "", errors.New("is empty")
	}
	if !utf8.ValidString(text) || strings.IndexFunc(text, binaryRune) >= 0 {
		return "", fmt.Errorf("holds binary data, not text (content type %q)", contentType)
	}
	return text, nil
}

// binaryRune reports a control character that text does not hold.
func binaryRune(r rune) bool {
	return r < 0x20 && r != '\t' && r != '\n' && r != '\r' && r != '\f'
}

// binary reads the Binary a url names ("Binary/id", relative or absolute).
func (e *Enricher) binary(ctx context.Context, url string) ([]byte, string, error) {
	ref, ok := model.ParseReference(url)
	if !ok || ref.Type != "Binary" {
		return nil, "", errors.New("url names no Binary of this server (want Binary/<id>)")
	}
	if err := e.check(ctx, "Binary", authz.ActRead); err != nil {
		return nil, "", err
	}
	rec, err := e.Store.Read(ctx, "Binary", ref.ID)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrDeleted) {
			return nil, "", errors.New("url names a Binary that does not exist")
		}
		return nil, "", err
	}
	bin, err := model.UnmarshalAs[*model.Binary](rec.JSON)
	if err != nil {
		return nil, "", fmt.Errorf("stored Binary: %w", err)
	}
	if bin.Data == nil {
		return nil, "", errors.New("url names a Binary without data")
	}
	b, err := decodeBase64(string(*bin.Data))
	if err != nil {
		return nil, "", errors.New("url names a Binary whose data is not base64")
	}
	ct := ""
	if bin.ContentType != nil {
		ct = string(*bin.ContentType)
	}
	return b, ct, nil
}

// decodeBase64 decodes FHIR base64Binary, which may hold line breaks.
func decodeBase64(s string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
}

// newID returns a random 128-bit FHIR id in hex, as the GraphQL create mutations do.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
