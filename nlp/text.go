package nlp

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// segment is a piece of the text in byte offsets: a sentence, or a chunk of a long one.
// A chunk keeps only the spans that begin in [claimFrom, claimTo).
type segment struct {
	begin, end         int
	claimFrom, claimTo int
}

// section is a part of the note under a heading; heading is the heading's own span.
type section struct {
	category                string
	headBegin, headEnd, end int
}

// document is the text with its sections and sentences, all in byte offsets.
type document struct {
	text      string
	sections  []section
	sentences []segment
}

func newDocument(text string) *document {
	d := &document{text: text}
	d.sections = findSections(text, lexicons().sections)
	d.sentences = splitSentences(text, d.sections)
	return d
}

// sectionAt returns the category of the section holding byte offset i, or "".
func (d *document) sectionAt(i int) string {
	for k := len(d.sections) - 1; k >= 0; k-- {
		s := d.sections[k]
		if i >= s.headEnd && i < s.end {
			return s.category
		}
		if i >= s.headBegin {
			return ""
		}
	}
	return ""
}

// inHeading reports whether [b, e) overlaps a section heading.
func (d *document) inHeading(b, e int) bool {
	for _, s := range d.sections {
		if b < s.headEnd && e > s.headBegin {
			return true
		}
	}
	return false
}

// findSections finds heading lines: a line that, without markdown '#'s, is a known heading, or
// starts with a known heading ending in a colon. A section runs to the next heading.
func findSections(text string, headings map[string]string) []section {
	var out []section
	for lineStart := 0; lineStart < len(text); {
		lineEnd := strings.IndexByte(text[lineStart:], '\n')
		if lineEnd < 0 {
			lineEnd = len(text)
		} else {
			lineEnd += lineStart
		}
		if s, ok := heading(text, lineStart, lineEnd, headings); ok {
			if n := len(out); n > 0 {
				out[n-1].end = s.headBegin
			}
			out = append(out, s)
		}
		lineStart = lineEnd + 1
	}
	if n := len(out); n > 0 {
		out[n-1].end = len(text)
	}
	return out
}

func heading(text string, lineStart, lineEnd int, headings map[string]string) (section, bool) {
	b := lineStart
	for b < lineEnd && (text[b] == '#' || text[b] == ' ' || text[b] == '\t' || text[b] == '*') {
		b++
	}
	line := strings.TrimRight(text[b:lineEnd], " \t\r*")
	if line == "" || len(line) > 60 && !strings.Contains(line, ":") {
		return section{}, false
	}
	key, end := line, b+len(line)
	if c := strings.IndexByte(line, ':'); c >= 0 {
		key, end = line[:c], b+c+1
	}
	cat, ok := headings[normHeading(key)]
	if !ok {
		return section{}, false
	}
	return section{category: cat, headBegin: b, headEnd: end}, true
}

// normHeading lower-cases a heading and drops its colon and surrounding spaces.
func normHeading(s string) string {
	return strings.ToLower(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), ":")))
}

// abbreviations that end in a full stop without ending a sentence.
var noBreakAfter = map[string]bool{
	"dr": true, "mr": true, "mrs": true, "ms": true, "vs": true, "e.g": true, "i.e": true, "etc": true,
	"st": true, "no": true, "approx": true, "p.o": true, "b.i.d": true, "t.i.d": true, "q.i.d": true,
	"q.d": true, "q.h.s": true, "p.r.n": true, "a.m": true, "p.m": true, "i.v": true, "i.m": true, "s.c": true,
	"fig": true, "pt": true, "hx": true, "jr": true, "sr": true, "prof": true,
}

// splitSentences cuts the text into sentences: at '.', '?' and '!' followed by a space, at ';',
// at a blank line, at a line break unless the next line continues in lower case, and around
// section headings. Spaces at either end are left out.
func splitSentences(text string, sections []section) []segment {
	var out []segment
	start := 0
	emit := func(end int) {
		b, e := start, end
		for b < e && isSpace(text, b) {
			_, w := utf8.DecodeRuneInString(text[b:])
			b += w
		}
		for e > b && isSpaceByte(text[e-1]) {
			e--
		}
		if e > b {
			out = append(out, segment{begin: b, end: e, claimFrom: b, claimTo: e})
		}
	}
	nextHead := 0
	for i := 0; i < len(text); {
		if nextHead < len(sections) && i == sections[nextHead].headBegin {
			emit(i)
			start = i
			i = sections[nextHead].headEnd
			emit(i)
			start = i
			nextHead++
			continue
		}
		for nextHead < len(sections) && sections[nextHead].headBegin < i {
			nextHead++
		}
		c := text[i]
		switch {
		case c == ';':
			emit(i + 1)
			start = i + 1
		case c == '.' || c == '?' || c == '!':
			if (i+1 == len(text) || isSpaceByte(text[i+1])) && !(c == '.' && abbreviationBefore(text, start, i)) {
				emit(i + 1)
				start = i + 1
			}
		case c == '\n':
			if lineBreakEnds(text, i) {
				emit(i)
				start = i + 1
			}
		}
		i++
	}
	emit(len(text))
	return out
}

func isSpace(text string, i int) bool {
	r, _ := utf8.DecodeRuneInString(text[i:])
	return unicode.IsSpace(r)
}

// abbreviationBefore reports whether the word before the full stop at i is a known abbreviation
// or a single letter (an initial).
func abbreviationBefore(text string, start, i int) bool {
	j := i
	for j > start && !isSpaceByte(text[j-1]) && text[j-1] != '(' {
		j--
	}
	w := strings.ToLower(text[j:i])
	return noBreakAfter[w] || len(w) == 1 && w[0] >= 'a' && w[0] <= 'z'
}

// lineBreakEnds reports whether the line break at i ends a sentence: it does unless the next
// line starts, after spaces, with a lower-case letter.
func lineBreakEnds(text string, i int) bool {
	j := i + 1
	for j < len(text) && (text[j] == ' ' || text[j] == '\t' || text[j] == '\r') {
		j++
	}
	if j >= len(text) {
		return true
	}
	r, _ := utf8.DecodeRuneInString(text[j:])
	return !unicode.IsLower(r)
}

// token is a word or a number in byte offsets, with its normalised form.
type token struct {
	begin, end int
	norm       string
	upper      bool // every letter is upper case (abbreviations such as MI)
	colon      bool // the previous non-space character is ':'
}

// tokenize returns the words and numbers of text[b:e]; punctuation separates tokens and is
// not one (so "x-ray" and "x ray" match alike). An apostrophe inside a word belongs to it.
func tokenize(text string, b, e int) []token {
	var out []token
	forEachWord(text, b, e, func(i, j int) {
		out = append(out, token{begin: i, end: j, norm: normWord(text[i:j]), upper: isUpperWord(text[i:j]), colon: colonBefore(text, b, i)})
	})
	return out
}

// forEachWord calls f with the bounds of each word of text[b:e].
func forEachWord(text string, b, e int, f func(i, j int)) {
	i := b
	for i < e {
		r, w := rune(text[i]), 1
		if r >= utf8.RuneSelf {
			r, w = utf8.DecodeRuneInString(text[i:e])
		}
		if !isWordRune(r) {
			i += w
			continue
		}
		j := i + w
		for j < e {
			r, w := rune(text[j]), 1
			if r >= utf8.RuneSelf {
				r, w = utf8.DecodeRuneInString(text[j:e])
			}
			if isWordRune(r) {
				j += w
				continue
			}
			if (r == '\'' || r == '’') && j+w < e {
				if r2, _ := utf8.DecodeRuneInString(text[j+w : e]); unicode.IsLetter(r2) {
					j += w
					continue
				}
			}
			// a decimal point inside a number: 7.2
			if r == '.' && isDigitByte(text[j-1]) && j+1 < e && isDigitByte(text[j+1]) {
				j++
				continue
			}
			break
		}
		f(i, j)
		i = j
	}
}

// isUpperWord reports whether a word has two letters or more, all upper case.
func isUpperWord(w string) bool {
	letters := 0
	for _, r := range w {
		if unicode.IsLetter(r) {
			if !unicode.IsUpper(r) {
				return false
			}
			letters++
		}
	}
	return letters > 1
}

func colonBefore(text string, b, i int) bool {
	for i > b && (text[i-1] == ' ' || text[i-1] == '\t') {
		i--
	}
	return i > b && text[i-1] == ':'
}

func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}
func isDigitByte(c byte) bool { return c >= '0' && c <= '9' }

// normWord lower-cases a word, drops a possessive 's and reduces a plural to its singular,
// the same way for the lexicons and for the text, so "kidneys" matches "kidney".
func normWord(w string) string {
	w = strings.ToLower(w)
	if strings.ContainsAny(w, "'’") {
		w = strings.ReplaceAll(w, "’", "'")
		if strings.HasSuffix(w, "'s") {
			w = w[:len(w)-2]
		}
		w = strings.ReplaceAll(w, "'", "")
	}
	n := len(w)
	switch {
	case n > 4 && strings.HasSuffix(w, "ies"):
		return w[:n-3] + "y"
	case n > 4 && strings.HasSuffix(w, "sses"):
		return w[:n-2]
	case n > 3 && w[n-1] == 's' && !strings.HasSuffix(w, "ss") && !strings.HasSuffix(w, "us") &&
		!strings.HasSuffix(w, "is") && !strings.HasSuffix(w, "ous") && !isDigitByte(w[n-2]):
		return w[:n-1]
	}
	return w
}
