package nlp

import (
	"fmt"
	"sort"
	"unicode/utf8"

	"github.com/fhirgate/fhirgate/fault"
)

// Version names the pipeline and its lexicons; enrichment written with another Version is replaced.
const Version = "fhirgate-nlp/0.1.0"

// Categories of entities, as Comprehend Medical names them.
const (
	MedicalCondition       = "MEDICAL_CONDITION"
	Medication             = "MEDICATION"
	TestTreatmentProcedure = "TEST_TREATMENT_PROCEDURE"
	Anatomy                = "ANATOMY"
	PHI                    = "PROTECTED_HEALTH_INFORMATION"
)

// Traits an entity or attribute may carry (see the package comment).
const (
	TraitDiagnosis   = "DIAGNOSIS"
	TraitSign        = "SIGN"
	TraitSymptom     = "SYMPTOM"
	TraitNegation    = "NEGATION"
	TraitHypothetic  = "HYPOTHETICAL"
	TraitHistory     = "PAST_HISTORY"
	TraitFamily      = "PERTAINS_TO_FAMILY"
	TraitLowConfid   = "LOW_CONFIDENCE"
	traitPseudo      = "pseudo"    // a pseudo-trigger: a phrase that looks like a trigger but is none
	traitTerminate   = "terminate" // a termination term for every category
	traitCategoryEnd = "end"       // a termination term for one category
)

// Result is what Analyze finds in a text.
type Result struct {
	Entities []Entity `json:"entities"`
}

// Entity is one span of the text recognised as a medical fact or as protected health information.
// BeginOffset and EndOffset count Unicode code points of the analysed text, end exclusive.
type Entity struct {
	ID          int         `json:"id"`
	Text        string      `json:"text"`
	Category    string      `json:"category"`
	Type        string      `json:"type"`
	Score       float64     `json:"score"`
	BeginOffset int         `json:"beginOffset"`
	EndOffset   int         `json:"endOffset"`
	Traits      []Trait     `json:"traits"`
	Attributes  []Attribute `json:"attributes"`
	Concepts    []Concept   `json:"concepts"`
}

// Trait qualifies an entity (NEGATION, PAST_HISTORY, SYMPTOM, ...) with the pipeline's confidence.
type Trait struct {
	Name  string  `json:"name"`
	Score float64 `json:"score"`
}

// Attribute is a span linked to an entity: a medication's dosage, a test's value.
type Attribute struct {
	Type             string  `json:"type"`
	Text             string  `json:"text"`
	Score            float64 `json:"score"`
	RelationshipType string  `json:"relationshipType"`
	BeginOffset      int     `json:"beginOffset"`
	EndOffset        int     `json:"endOffset"`
	Traits           []Trait `json:"traits"`
}

// Concept is a code an entity may stand for, ranked by Score: ICD-10-CM codes (with the dot,
// as FHIR writes them) for conditions, RxNorm codes for medications.
type Concept struct {
	Code        string  `json:"code"`
	Description string  `json:"description"`
	Score       float64 `json:"score"`
}

// ErrInvalid is the sentinel of every input error of this package: empty, undecodable,
// non-text and too long.
var ErrInvalid = fault.New(fault.Invalid, "nlp")

// ErrTooLong refuses a note over Options.MaxChars.
var ErrTooLong = fmt.Errorf("%w: the note is longer than the limit", ErrInvalid)

// Options bound the pipeline.
type Options struct {
	// MaxChars is the longest note, in code points, that Analyze accepts.
	MaxChars int
	// ChunkChars is the size, in code points, of the pieces a long sentence is cut into.
	// Neighbouring pieces overlap, so that no entity shorter than half the overlap is lost.
	ChunkChars int
}

// DefaultOptions are the options Analyze uses.
var DefaultOptions = Options{MaxChars: 100_000, ChunkChars: 4_000}

// chunkOverlap is the number of bytes by which neighbouring chunks of a long sentence overlap.
const chunkOverlap = 400

// Analyze runs the pipeline on text with DefaultOptions; offsets are in Unicode code points of text.
func Analyze(text string) (*Result, error) { return DefaultOptions.Analyze(text) }

// Analyze runs the pipeline on text with the options o.
func (o Options) Analyze(text string) (*Result, error) {
	if n := utf8.RuneCountInString(text); o.MaxChars > 0 && n > o.MaxChars {
		return nil, fmt.Errorf("%w (%d characters, at most %d)", ErrTooLong, n, o.MaxChars)
	}
	if !utf8.ValidString(text) {
		return nil, fmt.Errorf("%w: the text is not valid UTF-8", ErrInvalid)
	}
	lex := lexicons()
	doc := newDocument(text)
	var found []*span
	for _, s := range doc.sentences {
		for _, c := range o.chunks(text, s) {
			found = append(found, lex.analyzeSentence(doc, c)...)
		}
	}
	return doc.result(dedupe(found)), nil
}

// chunks cuts a sentence longer than ChunkChars into overlapping windows ending at spaces.
// Each window claims the entities that begin before the middle of its overlap with the next,
// and the next claims the rest, so an entity shorter than half the overlap is found whole.
func (o Options) chunks(text string, s segment) []segment {
	limit := o.ChunkChars
	if limit <= 0 {
		limit = DefaultOptions.ChunkChars
	}
	if utf8.RuneCountInString(text[s.begin:s.end]) <= limit {
		return []segment{s}
	}
	var out []segment
	begin := s.begin
	for begin < s.end {
		end := advance(text, begin, limit, s.end)
		if end < s.end {
			end = backToSpace(text, begin, end)
		}
		c := segment{begin: begin, end: end, claimFrom: begin, claimTo: s.end}
		if len(out) > 0 {
			c.claimFrom = out[len(out)-1].claimTo
		}
		if end >= s.end {
			out = append(out, c)
			break
		}
		next := backToSpace(text, begin, max(begin+1, end-chunkOverlap))
		if next <= begin {
			next = end
		}
		c.claimTo = next + (end-next)/2
		out = append(out, c)
		begin = next
	}
	return out
}

// advance returns the byte offset n code points after from, or limit.
func advance(text string, from, n, limit int) int {
	i := from
	for ; i < limit && n > 0; n-- {
		_, w := utf8.DecodeRuneInString(text[i:])
		i += w
	}
	return i
}

// backToSpace moves end back to just after a space, if there is one after begin.
func backToSpace(text string, begin, end int) int {
	for i := end; i > begin; i-- {
		if isSpaceByte(text[i-1]) {
			return i
		}
	}
	return end
}

func isSpaceByte(b byte) bool { return b == ' ' || b == '\n' || b == '\r' || b == '\t' }

// dedupe drops spans found twice (by overlapping chunks) and sorts the rest by position.
func dedupe(spans []*span) []*span {
	sort.SliceStable(spans, func(i, j int) bool {
		if spans[i].begin != spans[j].begin {
			return spans[i].begin < spans[j].begin
		}
		return spans[i].end > spans[j].end
	})
	out := spans[:0]
	for _, s := range spans {
		if n := len(out); n > 0 && out[n-1].begin == s.begin && out[n-1].end == s.end && out[n-1].typ == s.typ {
			continue
		}
		out = append(out, s)
	}
	return out
}
