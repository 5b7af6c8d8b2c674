package nlp

import (
	"regexp"
	"sort"
	"strconv"
)

const month = `(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)`

// PHI patterns. A pattern with a group marks the group only ("MRN: 123456" marks 123456).
var phiPatterns = []struct {
	typ string
	re  *regexp.Regexp
}{
	{"EMAIL", regexp.MustCompile(`\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b`)},
	{"URL", regexp.MustCompile(`\bhttps?://[^\s<>"]+`)},
	{"ID", regexp.MustCompile(`\b\d{3}-\d{2}-\d{4}\b`)},
	{"PHONE_OR_FAX", regexp.MustCompile(`(?:\(\d{3}\)\s?|\b\d{3}[-. ])\d{3}[-.]\d{4}\b`)},
	{"ID", regexp.MustCompile(`(?i)\b(?:mrn|medical record(?: number)?|record number|ssn|account(?: number)?|acct|patient id|member id|id)\s*(?:#|no\.?|number)?\s*[:#]?\s*([A-Z0-9][A-Z0-9-]{3,})\b`)},
	{"DATE", regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}(?:T[\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b|(?i)\b` + month + `\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}\b|(?i)\b\d{1,2}\s+` + month + `\.?,?\s+\d{4}\b`)},
	{"ADDRESS", regexp.MustCompile(`\b\d{1,6}\s+(?:[A-Z][a-z]+\s+){1,3}(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Boulevard|Blvd|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Circle)\b\.?(?:,?\s+(?:Apt|Suite|Unit)\s*#?\s*\w+)?(?:,\s+[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?,\s+[A-Z]{2}(?:\s+\d{5}(?:-\d{4})?)?)?`)},
	{"NAME", regexp.MustCompile(`\b(?:Dr|Mr|Mrs|Ms|Miss|Prof)\.?\s+([A-Z][a-z]+(?:[-'][A-Z][a-z]+)?(?:\s+[A-Z]\.)?(?:\s+[A-Z][a-z]+(?:[-'][A-Z][a-z]+)?)?)`)},
	{"NAME", regexp.MustCompile(`(?i:\b(?:patient name|name|patient|pt)\s*:\s*)([A-Z][a-z]+(?:\s+[A-Z]\.)?(?:\s+[A-Z][a-z]+){1,2})`)},
	// Synthea writes names with digits appended: "Sumiko254 Larue605".
	{"NAME", regexp.MustCompile(`\b[A-Z][a-z]+\d{1,4}(?:\s+[A-Z][a-z]+\d{1,4}){1,2}\b`)},
}

// Ages: only ages over 89 are protected health information (HIPAA Safe Harbor).
var agePattern = regexp.MustCompile(`(?i)\b(\d{2,3})[- ](?:years?|yrs?|y)[- ]?old\b|(?i)\baged?\s+(\d{2,3})\b|(?i)\b(\d{2,3})\s?(?:y/o|yo)\b`)

// findPHI returns the protected health information of text[b:e], earlier and longer first
// where spans overlap.
func findPHI(text string, b, e int) []*span {
	s := text[b:e]
	var out []*span
	add := func(typ string, mb, me int) {
		if overlapsAny(out, b+mb, b+me) {
			return
		}
		out = append(out, &span{begin: b + mb, end: b + me, from: -1, to: -1, category: PHI, typ: typ, score: 0.9})
	}
	for _, p := range phiPatterns {
		for _, m := range p.re.FindAllStringSubmatchIndex(s, -1) {
			if len(m) >= 4 && m[2] >= 0 {
				add(p.typ, m[2], m[3])
			} else {
				add(p.typ, m[0], m[1])
			}
		}
	}
	for _, m := range agePattern.FindAllStringSubmatchIndex(s, -1) {
		for g := 2; g+1 < len(m); g += 2 {
			if m[g] < 0 {
				continue
			}
			if n, err := strconv.Atoi(s[m[g]:m[g+1]]); err == nil && n > 89 && n < 150 {
				add("AGE", m[g], m[g+1])
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].begin < out[j].begin })
	return out
}
