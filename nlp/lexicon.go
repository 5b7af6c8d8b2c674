package nlp

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode"
)

//go:embed lexicon
var lexiconFS embed.FS

// lexicon holds everything the pipeline looks up, built once from the embedded files.
type lexicon struct {
	terms    *trie             // conditions, medications, tests, procedures, anatomy
	triggers *trie             // NegEx and ConText triggers
	sections map[string]string // normalised heading -> section category
	icd      *icdIndex
	rx       *rxTable
}

var (
	lexOnce sync.Once
	lex     *lexicon
)

// lexicons returns the lexicons, loading them on first use. The embedded files are part of the
// binary and checked by the tests, so a failure to load them is a programming error.
func lexicons() *lexicon {
	lexOnce.Do(func() {
		l, err := loadLexicons()
		if err != nil {
			panic(fmt.Sprintf("nlp: embedded lexicons: %v", err))
		}
		lex = l
	})
	return lex
}

// Load loads the lexicons now rather than on the first Analyze; servers call it at start-up.
func Load() { lexicons() }

func loadLexicons() (*lexicon, error) {
	l := &lexicon{terms: newTrie(), triggers: newTrie()}
	var err error
	if l.sections, err = loadSections(); err != nil {
		return nil, err
	}
	if err := l.loadTriggers(); err != nil {
		return nil, err
	}
	// Curated lists first: on a phrase that several lexicons name, the first one added wins.
	addCurated(l.terms)
	if l.icd, err = loadICD(l.terms); err != nil {
		return nil, err
	}
	if err := loadRxNorm(l.terms); err != nil {
		return nil, err
	}
	if l.rx, err = loadRxCodes(); err != nil {
		return nil, err
	}
	return l, nil
}

func readLexicon(name string) ([]byte, error) {
	b, err := lexiconFS.ReadFile("lexicon/" + name)
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(name, ".gz") {
		return b, nil
	}
	z, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return io.ReadAll(z)
}

func loadSections() (map[string]string, error) {
	b, err := readLexicon("section_patterns.json")
	if err != nil {
		return nil, err
	}
	var f struct {
		Rules []struct{ Literal, Category string } `json:"section_rules"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("section_patterns.json: %w", err)
	}
	out := map[string]string{}
	for _, r := range f.Rules {
		out[normHeading(r.Literal)] = r.Category
	}
	// Headings Synthea and the demo write that medspaCy's list lacks.
	for h, c := range map[string]string{"assessment and plan": "observation_and_plan", "plan": "observation_and_plan",
		"assessment": "observation_and_plan", "medications": "medications", "allergies": "allergies",
		"past medical history": "past_medical_history", "family history": "family_history",
		"social history": "social_history", "history of present illness": "history_of_present_illness",
		"chief complaint": "chief_complaint", "physical exam": "physical_exam", "labs": "labs_and_studies"} {
		if _, ok := out[h]; !ok {
			out[h] = c
		}
	}
	return out, nil
}

// words tokenizes a lexicon phrase and returns its normalised words.
func words(phrase string) []string {
	out := make([]string, 0, 8)
	forEachWord(phrase, 0, len(phrase), func(b, e int) { out = append(out, normWord(phrase[b:e])) })
	return out
}

// NegEx tags and the trait and direction each stands for, per trigger file.
var triggerFiles = []struct{ file, trait string }{
	{"negex_triggers.txt", TraitNegation},
	{"context_history_triggers.txt", TraitHistory},
	{"context_hypothetical_triggers.txt", TraitHypothetic},
	{"context_experiencer_triggers.txt", TraitFamily},
}

func (l *lexicon) loadTriggers() error {
	for _, f := range triggerFiles {
		b, err := readLexicon(f.file)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			phrase, tag, ok := strings.Cut(sc.Text(), "\t\t")
			if !ok {
				continue
			}
			e := entry{trait: f.trait, score: 0.9}
			switch strings.TrimSpace(tag) {
			case "[PREN]":
				e.direction = "forward"
			case "[POST]":
				e.direction = "backward"
			case "[PREP]":
				e.trait, e.direction = TraitLowConfid, "forward"
			case "[POSP]":
				e.trait, e.direction = TraitLowConfid, "backward"
			case "[ONEW]":
				e.direction = "one"
			case "[PSEU]":
				e.trait, e.direction = traitPseudo, ""
			case "[CONJ]":
				e.direction = traitCategoryEnd
			default:
				continue
			}
			l.addTrigger(phrase, e)
		}
	}
	for _, x := range extraTriggers {
		l.addTrigger(x.phrase, entry{trait: x.trait, direction: x.direction, score: 0.9})
	}
	return l.loadContextRules()
}

// extraTriggers are fhirgate's additions to the NegEx and ConText lists, for phrasings common
// in notes that the lists lack.
var extraTriggers = []struct{ phrase, trait, direction string }{
	{"cannot rule out", TraitLowConfid, "forward"},
	{"can not rule out", TraitLowConfid, "forward"},
	{"cannot exclude", TraitLowConfid, "forward"},
	{"questionable", TraitLowConfid, "forward"},
	{"has resolved", TraitNegation, "backward"},
	{"have resolved", TraitNegation, "backward"},
	{"resolved", TraitNegation, "backward"},
	{"denied", TraitNegation, "backward"},
	{"is denied", TraitNegation, "backward"},
}

func (l *lexicon) addTrigger(phrase string, e entry) {
	phrase = strings.TrimSpace(phrase)
	if strings.HasPrefix(phrase, ":") {
		e.colon = true
	}
	if w := words(phrase); len(w) > 0 {
		l.triggers.add(w, e)
	}
}

// medspaCy ConText categories and the traits they stand for.
var contextCategories = map[string]string{
	"NEGATED_EXISTENCE":  TraitNegation,
	"POSSIBLE_EXISTENCE": TraitLowConfid,
	"HYPOTHETICAL":       TraitHypothetic,
	"HISTORICAL":         TraitHistory,
	"FAMILY":             TraitFamily,
}

// loadContextRules adds medspaCy's ConText rules; a token pattern (LOWER, IN, OP "?") is expanded
// into the phrases it matches.
func (l *lexicon) loadContextRules() error {
	b, err := readLexicon("context_rules.json")
	if err != nil {
		return err
	}
	var f struct {
		Rules []struct {
			Category, Literal, Direction string
			Pattern                      []map[string]any
		} `json:"context_rules"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("context_rules.json: %w", err)
	}
	for _, r := range f.Rules {
		trait, ok := contextCategories[r.Category]
		if !ok {
			return fmt.Errorf("context_rules.json: unknown category %q", r.Category)
		}
		e := entry{trait: trait, score: 0.9}
		switch r.Direction {
		case "FORWARD":
			e.direction = "forward"
		case "BACKWARD":
			e.direction = "backward"
		case "TERMINATE":
			e.trait, e.direction = traitTerminate, traitTerminate
		default:
			return fmt.Errorf("context_rules.json: unknown direction %q", r.Direction)
		}
		phrases := []string{r.Literal}
		if r.Pattern != nil {
			if phrases, err = expandPattern(r.Pattern); err != nil {
				return fmt.Errorf("context_rules.json %q: %w", r.Literal, err)
			}
		}
		for _, p := range phrases {
			l.addTrigger(p, e)
		}
	}
	return nil
}

// expandPattern lists the phrases a spaCy token pattern of LOWER / IN / OP "?" matches.
func expandPattern(p []map[string]any) ([]string, error) {
	out := []string{""}
	for _, tok := range p {
		var alts []string
		switch v := tok["LOWER"].(type) {
		case string:
			alts = []string{v}
		case map[string]any:
			in, _ := v["IN"].([]any)
			for _, a := range in {
				s, _ := a.(string)
				alts = append(alts, s)
			}
		}
		if len(alts) == 0 {
			return nil, fmt.Errorf("unsupported token %v", tok)
		}
		op, _ := tok["OP"].(string)
		if op != "" && op != "?" {
			return nil, fmt.Errorf("unsupported operator %q", op)
		}
		var next []string
		for _, prefix := range out {
			if op == "?" {
				next = append(next, prefix)
			}
			for _, a := range alts {
				next = append(next, strings.TrimSpace(prefix+" "+a))
			}
		}
		out = next
	}
	return out, nil
}

// Trigger words every lexicon ignores: stop words of ICD-10-CM descriptions and words of drug
// names that are common English words.
var stopWords = set("a an and or of the in on at to for with without by from as due other unspecified specified " +
	"not elsewhere classified nos nec site type part use unknown than more less both each")

var commonWords = set("cold sleep water today care plan test blood heart pain ice bar pill clear balance " +
	"control relief day night formula complete natural total advance daily original regular strength extra " +
	"maximum children adult junior plus one two all care health sun skin hair eye ear nose mouth oral " +
	"aid cough fever allergy allergies sinus chest nasal head back muscle joint rest cream gel liquid soft " +
	"hand foot leg arm tab cap iron oxygen calcium sodium potassium magnesium zinc glucose insulin " +
	"may well go good true action active vital energy focus calm doctor nurse hospital patient " +
	"visit note history family social diet exercise walk run home work school pre post free " +
	"left right upper lower normal mild severe acute chronic stage stable multi prime pro ultra max " +
	"lens pen kit pack system spray drop drops patch gum ointment solution suspension tablet capsule " +
	"injection powder lotion shampoo soap wash wipe pad stick tape")

func set(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

// contentWords drops stop words.
func contentWords(ws []string) []string {
	var out []string
	for _, w := range ws {
		if !stopWords[w] {
			out = append(out, w)
		}
	}
	return out
}

var (
	icdDrops  = strings.NewReplacer(", unspecified", " ", "unspecified ", " ", ", uncomplicated", " ", " without complications", " ", ", not elsewhere classified", " ", " nos", " ", "other specified ", " ", "other ", " ")
	parenDrop = strings.NewReplacer("(", "", ")", "")
)

// withoutParentheticals drops the parenthesised parts of s.
func withoutParentheticals(s string) string {
	if !strings.Contains(s, "(") {
		return s
	}
	var b strings.Builder
	depth := 0
	for _, r := range s {
		switch {
		case r == '(':
			depth++
		case r == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// icdVariants derives the phrases that name an ICD-10-CM description in notes: the description
// without encounter qualifiers and "unspecified", without or with its parenthesised words, and
// word-order variants ("X, Y" as "Y X"; "X of Y" as "Y X").
func icdVariants(desc string) []string {
	d := strings.ToLower(desc)
	for _, cut := range []string{", initial encounter", ", subsequent encounter", ", sequela"} {
		if i := strings.Index(d, cut); i >= 0 {
			d = d[:i]
		}
	}
	d = strings.Join(strings.Fields(icdDrops.Replace(d)), " ")
	var out []string
	variants := []string{withoutParentheticals(d)}
	if strings.Contains(d, "(") {
		variants = append(variants, parenDrop.Replace(d))
	}
	for _, v := range variants {
		v = strings.TrimSpace(v)
		out = append(out, v)
		if a, b, ok := strings.Cut(v, ", "); ok && !strings.Contains(b, ",") {
			out = append(out, b+" "+a)
		}
		if a, b, ok := strings.Cut(v, " of "); ok && !strings.ContainsAny(v, ",") && len(strings.Fields(a)) <= 2 && len(strings.Fields(b)) <= 3 {
			out = append(out, b+" "+a)
		}
	}
	return out
}

// usableTerm reports whether normalised words make a phrase worth matching: one to six content
// words, a single word only if long and no stop or common word.
func usableTerm(ws []string) bool {
	c := contentWords(ws)
	if len(c) == 0 || len(ws) > 8 || len(c) > 6 || stopWords[ws[0]] || stopWords[ws[len(ws)-1]] {
		return false
	}
	if len(ws) == 1 {
		w := ws[0]
		return len(w) >= 5 && !commonWords[w] && unicode.IsLetter(rune(w[0]))
	}
	return true
}
