package nlp

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
)

const month = `(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)`

// PHI patterns. A pattern with a group marks the group only ("MRN: 123456" marks 123456).
// need is a cheap test a sentence must pass for the pattern to be tried: regular expressions are
// most of the pipeline's time, and most sentences hold no digit, '@' or title.
var phiPatterns = []struct {
	typ  string
	need func(string) bool
	re   *regexp.Regexp
}{
	{"EMAIL", hasAt, regexp.MustCompile(`\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b`)},
	{"URL", hasURL, regexp.MustCompile(`\bhttps?://[^\s<>"]+`)},
	{"ID", hasDigit, regexp.MustCompile(`\b\d{3}-\d{2}-\d{4}\b`)},
	{"PHONE_OR_FAX", hasDigit, regexp.MustCompile(`(?:\(\d{3}\)\s?|\b\d{3}[-. ])\d{3}[-.]\d{4}\b`)},
	{"ID", hasDigit, regexp.MustCompile(`(?i)\b(?:mrn|medical record(?: number)?|record number|ssn|account(?: number)?|acct|patient id|member id|id)\s*(?:#|no\.?|number)?\s*[:#]?\s*([A-Z0-9][A-Z0-9-]{3,})\b`)},
	{"DATE", hasDigit, regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}(?:T[\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b|(?i)\b` + month + `\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}\b|(?i)\b\d{1,2}\s+` + month + `\.?,?\s+\d{4}\b`)},
	{"ADDRESS", hasDigit, regexp.MustCompile(`\b\d{1,6}\s+(?:[A-Z][a-z]+\s+){1,3}(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Boulevard|Blvd|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Circle)\b\.?(?:,?\s+(?:Apt|Suite|Unit)\s*#?\s*\w+)?(?:,\s+[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?,\s+[A-Z]{2}(?:\s+\d{5}(?:-\d{4})?)?)?`)},
	{"NAME", hasTitle, regexp.MustCompile(`\b(?:Dr|Mr|Mrs|Ms|Miss|Prof)\.?\s+([A-Z][a-z]+(?:[-'][A-Z][a-z]+)?(?:\s+[A-Z]\.)?(?:\s+[A-Z][a-z]+(?:[-'][A-Z][a-z]+)?)?)`)},
	{"NAME", hasColon, regexp.MustCompile(`(?i:\b(?:patient name|name|patient|pt)\s*:\s*)([A-Z][a-z]+(?:\s+[A-Z]\.)?(?:\s+[A-Z][a-z]+){1,2})`)},
	// Synthea writes names with digits appended: "Sumiko254 Larue605".
	{"NAME", hasDigit, regexp.MustCompile(`\b[A-Z][a-z]+\d{1,4}(?:\s+[A-Z][a-z]+\d{1,4}){1,2}\b`)},
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
		if !p.need(s) {
			continue
		}
		for _, m := range p.re.FindAllStringSubmatchIndex(s, -1) {
			if len(m) >= 4 && m[2] >= 0 {
				add(p.typ, m[2], m[3])
			} else {
				add(p.typ, m[0], m[1])
			}
		}
	}
	if !hasDigit(s) {
		sort.Slice(out, func(i, j int) bool { return out[i].begin < out[j].begin })
		return out
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

func hasDigit(s string) bool { return strings.ContainsAny(s, "0123456789") }
func hasAt(s string) bool    { return strings.IndexByte(s, '@') >= 0 }
func hasURL(s string) bool   { return strings.Contains(s, "http") }
func hasColon(s string) bool { return strings.IndexByte(s, ':') >= 0 }
func hasTitle(s string) bool {
	return strings.Contains(s, "Dr") || strings.Contains(s, "Mr") || strings.Contains(s, "Ms") ||
		strings.Contains(s, "Miss") || strings.Contains(s, "Prof")
}
