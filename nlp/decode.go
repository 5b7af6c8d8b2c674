package nlp

import (
	"bytes"
	"fmt"
	"html"
	"mime"
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
)

// Decode turns an attachment into the text Analyze reads: text/plain and text/markdown as they
// are, text/html with its tags, scripts and styles removed and its entities decoded (block
// elements become line breaks, so headings and list items stay apart). The charset parameter
// (UTF-8 when absent; a UTF-8 or UTF-16 byte order mark wins) is decoded to UTF-8. Empty input,
// another media type and bytes invalid in the charset are errors of kind fault.Invalid.
func Decode(contentType string, data []byte) (string, error) {
	if len(data) == 0 {
		return "", fmt.Errorf("%w: the attachment is empty", ErrInvalid)
	}
	if contentType == "" {
		contentType = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", fmt.Errorf("%w: content type %q is not valid", ErrInvalid, contentType)
	}
	switch mt {
	case "text/plain", "text/markdown", "text/html", "text/x-markdown":
	default:
		return "", fmt.Errorf("%w: content type %q is not text (text/plain, text/html or text/markdown)", ErrInvalid, mt)
	}
	text, err := toUTF8(data, params["charset"])
	if err != nil {
		return "", err
	}
	if mt == "text/html" {
		text = stripHTML(text)
	}
	text = strings.TrimPrefix(text, "\uFEFF")
	if strings.TrimSpace(text) == "" {
		return "", fmt.Errorf("%w: the attachment holds no text", ErrInvalid)
	}
	return text, nil
}

func toUTF8(data []byte, charset string) (string, error) {
	var enc encoding.Encoding
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		data, charset = data[3:], "utf-8"
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}):
		charset = "utf-16le"
	case bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		charset = "utf-16be"
	}
	c := strings.ToLower(strings.TrimSpace(charset))
	if c == "" || c == "utf-8" || c == "utf8" || c == "us-ascii" || c == "ascii" {
		if !utf8.Valid(data) {
			return "", fmt.Errorf("%w: the attachment is not valid %s", ErrInvalid, orUTF8(charset))
		}
		return string(data), nil
	}
	enc, err := htmlindex.Get(c)
	if err != nil {
		return "", fmt.Errorf("%w: unknown charset %q", ErrInvalid, charset)
	}
	out, err := enc.NewDecoder().Bytes(data)
	if err != nil || !utf8.Valid(out) || bytes.ContainsRune(out, utf8.RuneError) {
		return "", fmt.Errorf("%w: the attachment is not valid %s", ErrInvalid, charset)
	}
	return string(out), nil
}

func orUTF8(c string) string {
	if c == "" {
		return "UTF-8"
	}
	return c
}

var (
	htmlDrop  = regexp.MustCompile(`(?is)<(script|style|head)\b.*?</(?:script|style|head)\s*>|<!--.*?-->`)
	htmlBlock = regexp.MustCompile(`(?i)</?(?:p|div|br|li|ul|ol|h[1-6]|tr|table|section|article|header|footer|blockquote|pre|hr)\b[^>]*>`)
	htmlTag   = regexp.MustCompile(`<[^>]*>`)
	blankRuns = regexp.MustCompile(`\n[ \t]*(?:\n[ \t]*)+`)
)

// stripHTML removes markup and decodes entities.
func stripHTML(s string) string {
	s = htmlDrop.ReplaceAllString(s, "")
	s = htmlBlock.ReplaceAllString(s, "\n")
	s = htmlTag.ReplaceAllString(s, "")
	s = html.UnescapeString(s)
	s = strings.ReplaceAll(s, "\u00a0", " ")
	return strings.TrimSpace(blankRuns.ReplaceAllString(s, "\n\n"))
}
