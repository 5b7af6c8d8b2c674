package nlp

import (
	"sort"
	"unicode/utf8"
)

// span is an entity while the pipeline builds it, in byte offsets of the text.
type span struct {
	begin, end int
	from, to   int // tokens of the sentence it covers; -1 for spans not found by the dictionary
	category   string
	typ        string
	score      float64
	traits     []Trait
	attrs      []attrSpan
	concepts   []Concept
	e          *entry
	ws         []string // normalised words of the text
}

// attrSpan is an attribute in byte offsets.
type attrSpan struct {
	begin, end int
	typ, rel   string
	score      float64
}

func (s *span) addTrait(name string, score float64) {
	for _, t := range s.traits {
		if t.Name == name {
			return
		}
	}
	s.traits = append(s.traits, Trait{Name: name, Score: score})
}

// analyzeSentence finds the entities of one sentence (or chunk of one) and returns those it claims.
func (l *lexicon) analyzeSentence(d *document, seg segment) []*span {
	if d.inHeading(seg.begin, seg.end) {
		return nil
	}
	text := d.text
	phi := findPHI(text, seg.begin, seg.end)
	toks := tokenize(text, seg.begin, seg.end)
	var found []*span
	for _, m := range l.terms.scan(toks, acceptCase) {
		b, e := toks[m.from].begin, toks[m.to-1].end
		if overlapsAny(phi, b, e) {
			continue
		}
		en := &l.terms.entries[m.ids[0]]
		s := &span{begin: b, end: e, from: m.from, to: m.to, category: en.category, typ: en.typ, score: en.score, e: en}
		for _, t := range toks[m.from:m.to] {
			s.ws = append(s.ws, t.norm)
		}
		if en.trait != "" {
			s.addTrait(en.trait, en.score)
		}
		found = append(found, s)
	}
	linkMedicationAttributes(text, seg, found)
	linkTestValues(text, seg, found)
	l.applyContext(toks, found)
	for _, s := range found {
		l.applySection(d, s)
		switch s.category {
		case MedicalCondition:
			s.concepts = l.icd.concepts(s.e.key, s.e.code)
		case Medication:
			s.concepts = l.rx.concepts(s.ws, s.attributes(text))
		}
	}
	found = append(found, phi...)
	out := found[:0]
	for _, s := range found {
		if s.begin >= seg.claimFrom && s.begin < seg.claimTo {
			out = append(out, s)
		}
	}
	return out
}

// acceptCase refuses an upper-case-only phrase (MI, PE) written otherwise.
func acceptCase(e *entry, toks []token) bool {
	if !e.upper {
		return true
	}
	for _, t := range toks {
		if !t.upper && !isDigitByte(t.norm[0]) {
			return false
		}
	}
	return true
}

func overlapsAny(spans []*span, b, e int) bool {
	for _, s := range spans {
		if b < s.end && e > s.begin {
			return true
		}
	}
	return false
}

// Section categories that put a trait on everything under them.
var sectionTraits = map[string]string{
	"family_history":       TraitFamily,
	"past_medical_history": TraitHistory,
}

func (l *lexicon) applySection(d *document, s *span) {
	if s.category == Anatomy || s.category == PHI {
		return
	}
	if t, ok := sectionTraits[d.sectionAt(s.begin)]; ok {
		s.addTrait(t, 0.8)
	}
}

// applyContext runs NegEx/ConText over the sentence: each trigger puts its trait on the entities
// in its scope, which runs forward (or backward) to the end of the sentence or to the first
// termination term of its category; a pseudo-trigger is no trigger; a one-word trigger
// ("prior", "s/p") reaches the next entity only.
func (l *lexicon) applyContext(toks []token, found []*span) {
	if len(found) == 0 {
		return
	}
	trigs := l.triggers.scan(toks, func(e *entry, ts []token) bool { return !e.colon || ts[0].colon })
	inEntity := func(m match) bool {
		for _, s := range found {
			if m.from >= s.from && m.to <= s.to {
				return true
			}
		}
		return false
	}
	kept := trigs[:0]
	for _, m := range trigs {
		if !inEntity(m) && !l.isPseudo(m) {
			kept = append(kept, m)
		}
	}
	for k, m := range kept {
		for _, id := range m.ids {
			e := &l.triggers.entries[id]
			switch e.direction {
			case "forward":
				end := len(toks)
				for _, n := range kept[k+1:] {
					if l.terminates(n, e.trait) {
						end = n.from
						break
					}
				}
				l.mark(found, m.to, end, e.trait, e.score)
			case "backward":
				start := 0
				for j := k - 1; j >= 0; j-- {
					if l.terminates(kept[j], e.trait) {
						start = kept[j].to
						break
					}
				}
				l.mark(found, start, m.from, e.trait, e.score)
			case "one":
				for _, s := range found {
					if s.from >= m.to && s.from <= m.to+2 && takesContext(s) {
						s.addTrait(e.trait, e.score)
						break
					}
				}
			}
		}
	}
}

func (l *lexicon) isPseudo(m match) bool {
	for _, id := range m.ids {
		if l.triggers.entries[id].trait == traitPseudo {
			return true
		}
	}
	return false
}

// terminates reports whether trigger m ends the scope of trait.
func (l *lexicon) terminates(m match, trait string) bool {
	for _, id := range m.ids {
		e := &l.triggers.entries[id]
		if e.direction == traitTerminate || e.direction == traitCategoryEnd && e.trait == trait {
			return true
		}
	}
	return false
}

func takesContext(s *span) bool {
	return s.category == MedicalCondition || s.category == Medication || s.category == TestTreatmentProcedure
}

// mark puts trait on the entities starting within tokens [from, to).
func (l *lexicon) mark(found []*span, from, to int, trait string, score float64) {
	for _, s := range found {
		if s.from >= from && s.from < to && takesContext(s) {
			s.addTrait(trait, score)
		}
	}
}

// attributes returns the span's attributes with their text, in byte offsets.
func (s *span) attributes(text string) []Attribute {
	out := make([]Attribute, 0, len(s.attrs))
	for _, a := range s.attrs {
		out = append(out, Attribute{Type: a.typ, Text: text[a.begin:a.end], Score: a.score, RelationshipType: a.rel,
			BeginOffset: a.begin, EndOffset: a.end, Traits: []Trait{}})
	}
	return out
}

// result turns spans into entities with code point offsets, numbered in text order.
func (d *document) result(spans []*span) *Result {
	pos := newRuneIndex(d.text)
	r := &Result{Entities: make([]Entity, 0, len(spans))}
	for i, s := range spans {
		attrs := s.attributes(d.text)
		for k := range attrs {
			attrs[k].BeginOffset, attrs[k].EndOffset = pos.at(attrs[k].BeginOffset), pos.at(attrs[k].EndOffset)
		}
		sort.Slice(attrs, func(a, b int) bool { return attrs[a].BeginOffset < attrs[b].BeginOffset })
		traits := append([]Trait{}, s.traits...)
		sort.Slice(traits, func(a, b int) bool { return traits[a].Name < traits[b].Name })
		concepts := s.concepts
		if concepts == nil {
			concepts = []Concept{}
		}
		r.Entities = append(r.Entities, Entity{ID: i, Text: d.text[s.begin:s.end], Category: s.category, Type: s.typ,
			Score: s.score, BeginOffset: pos.at(s.begin), EndOffset: pos.at(s.end), Traits: traits, Attributes: attrs,
			Concepts: append([]Concept{}, concepts...)})
	}
	return r
}

// runeIndex converts byte offsets of a text to code point offsets.
type runeIndex struct {
	ascii bool
	n     []int32 // byte offset -> code points before it
}

func newRuneIndex(text string) runeIndex {
	ascii := true
	for i := 0; i < len(text); i++ {
		if text[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return runeIndex{ascii: true}
	}
	n := make([]int32, len(text)+1)
	c := int32(0)
	for i := 0; i < len(text); i++ {
		n[i] = c
		if !utf8.RuneStart(text[i]) {
			continue
		}
		c++
		n[i] = c - 1
	}
	n[len(text)] = c
	return runeIndex{n: n}
}

func (x runeIndex) at(b int) int {
	if x.ascii {
		return b
	}
	return int(x.n[b])
}
