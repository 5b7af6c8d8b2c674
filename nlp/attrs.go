package nlp

import (
	"regexp"
	"sort"
)

const num = `(?:\d+(?:[.,]\d+)?|one|two|three|four|five|six|half|1/2)`

// Medication attribute patterns, in order of precedence where they overlap.
var medAttrPatterns = []struct {
	typ string
	re  *regexp.Regexp
}{
	{"RATE", regexp.MustCompile(`(?i)\b\d+(?:\.\d+)?\s*(?:mg|mcg|ml|units?|unt|g)\s*/\s*(?:hr|h|hour|min|minute)\b`)},
	{"DOSAGE", regexp.MustCompile(`(?i)\b` + num + `\s*(?:tablets?|tabs?|capsules?|caps?|pills?|puffs?|drops?|sprays?|patch(?:es)?|units?|teaspoons?|tsp|tablespoons?|applications?|inhalations?|vials?|ampules?|ml)\b(?:\s+of)?`)},
	{"STRENGTH", regexp.MustCompile(`(?i)\b\d+(?:\.\d+)?(?:\s*-\s*\d+(?:\.\d+)?)?\s*(?:mg|mcg|µg|gm?|ml|units?|unt|iu|meq|%)(?:\s*/\s*(?:\d+(?:\.\d+)?\s*)?(?:ml|actuat|hr|kg|dose|l))?(?:\s*/\s*\d+(?:\.\d+)?\s*(?:mg|mcg|ml))?`)},
	{"DURATION", regexp.MustCompile(`(?i)\b(?:for|x|times)\s*` + num + `\s*(?:more\s+)?(?:days?|weeks?|wks?|months?|mos?|years?)\b`)},
	{"FREQUENCY", regexp.MustCompile(`(?i)\b(?:(?:once|twice|three times|four times|[1-4]\s?x)\s+(?:a|per|each|every)?\s*(?:day|daily|week|weekly|month|night)|every\s+(?:morning|evening|night|day|other day|\d+(?:\s?-\s?\d+)?\s*(?:hours?|hrs?|days?|weeks?))|in the (?:morning|evening)|at bedtime|as needed(?: for [a-z]+)?|daily|nightly|weekly|monthly|q\.?d\.?|b\.?i\.?d\.?|t\.?i\.?d\.?|q\.?i\.?d\.?|q\.?h\.?s\.?|q\.?a\.?m\.?|q\.?o\.?d\.?|p\.?r\.?n\.?|q\s?\d+\s?(?:h|hrs?|hours?))(?:\b|$)`)},
	{"ROUTE_OR_MODE", regexp.MustCompile(`(?i:\b(?:by mouth|orally|oral|p\.o\.|po|intravenous(?:ly)?|i\.v\.|iv|intramuscular(?:ly)?|subcutaneous(?:ly)?|topical(?:ly)?|inhaled|inhalation|nebulized|sublingual(?:ly)?|transdermal(?:ly)?|intranasal(?:ly)?|nasal|rectal(?:ly)?|vaginal(?:ly)?|ophthalmic|intrauterine|mucosal)\b)|\b(?:IM|SC|SQ|SL|PR|SUBQ)\b`)},
	{"FORM", regexp.MustCompile(`(?i)\b(?:(?:extended|delayed)[- ]release\s+)?(?:tablets?|tabs?|capsules?|caps?|injection|injectable suspension|injectable solution|suspension|solution|cream|ointment|gel|lotion|patch|inhaler|spray|syrup|elixir|suppository|drops|powder|lozenge|auto-injector|pen|system|implant|day pack)\b`)},
}

// linkMedicationAttributes finds medication attributes in the segment and links each to a drug
// of the same sentence: to the drug it directly precedes ("1 ml epoetin"), else to the nearest
// drug before it, else to the next one. Attributes with no drug in the sentence are dropped.
func linkMedicationAttributes(text string, seg segment, found []*span) {
	var meds []*span
	for _, s := range found {
		if s.category == Medication {
			meds = append(meds, s)
		}
	}
	if len(meds) == 0 {
		return
	}
	taken := make([]*span, 0, len(found)) // attribute spans must not overlap entities or each other
	for _, s := range found {
		taken = append(taken, &span{begin: s.begin, end: s.end})
	}
	var attrs []attrSpan
	for _, p := range medAttrPatterns {
		for _, m := range p.re.FindAllStringIndex(text[seg.begin:seg.end], -1) {
			b, e := seg.begin+m[0], seg.begin+m[1]
			if overlapsAny(taken, b, e) {
				continue
			}
			taken = append(taken, &span{begin: b, end: e})
			attrs = append(attrs, attrSpan{begin: b, end: e, typ: p.typ, rel: p.typ, score: 0.85})
		}
	}
	sort.Slice(attrs, func(i, j int) bool { return attrs[i].begin < attrs[j].begin })
	for _, a := range attrs {
		if d := drugFor(text, meds, a); d != nil {
			d.attrs = append(d.attrs, a)
		}
	}
}

func drugFor(text string, meds []*span, a attrSpan) *span {
	var before, after *span
	for _, m := range meds {
		if m.end <= a.begin {
			before = m
		} else if m.begin >= a.end && after == nil {
			after = m
		}
	}
	if after != nil && onlySpaces(text[a.end:after.begin]) && (a.typ == "DOSAGE" || a.typ == "STRENGTH") {
		return after
	}
	if before != nil {
		return before
	}
	return after
}

func onlySpaces(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isSpaceByte(s[i]) {
			return false
		}
	}
	return true
}

var (
	testLead  = regexp.MustCompile(`^(?i:\s*(?:(?:of|was|were|is|are|at|level|levels|measured|reading|value|result|results|showed|shows|=|:|-)\s*)*)`)
	testValue = regexp.MustCompile(`^(?:\d+(?:\.\d+)?(?:\s*/\s*\d+(?:\.\d+)?)?|(?i:positive|negative|normal|abnormal|elevated|unremarkable))`)
	testUnit  = regexp.MustCompile(`^\s*(?i:mm\s?hg|mg/dl|mmol/l|g/dl|meq/l|ng/ml|pg/ml|u/l|iu/l|miu/l|mcg/dl|k/ul|x10\^?\d+/l|ml/min(?:/1\.73\s?m2)?|bpm|beats/min|breaths/min|/min|kg/m2|kg|lbs?|cm|%|°\s?[fc]|degrees\s?[fc]?)`)
)

// linkTestValues links to each test the value written right after it ("HbA1c 7.2%",
// "blood pressure was 140/90 mmHg") and the value's unit.
func linkTestValues(text string, seg segment, found []*span) {
	for i, s := range found {
		if s.typ != "TEST_NAME" {
			continue
		}
		limit := seg.end
		if i+1 < len(found) {
			limit = found[i+1].begin
		}
		rest := text[s.end:limit]
		lead := testLead.FindStringIndex(rest)
		v := testValue.FindStringIndex(rest[lead[1]:])
		if v == nil {
			continue
		}
		vb, ve := s.end+lead[1]+v[0], s.end+lead[1]+v[1]
		s.attrs = append(s.attrs, attrSpan{begin: vb, end: ve, typ: "TEST_VALUE", rel: "TEST_VALUE", score: 0.9})
		if u := testUnit.FindStringIndex(text[ve:limit]); u != nil {
			ub := ve + u[0]
			for ub < ve+u[1] && isSpaceByte(text[ub]) {
				ub++
			}
			s.attrs = append(s.attrs, attrSpan{begin: ub, end: ve + u[1], typ: "TEST_UNIT", rel: "TEST_UNITS", score: 0.9})
		}
	}
}
