package validate

import (
	"encoding/xml"
	"errors"
	"io"
	"strings"
)

const xhtmlNS = "http://www.w3.org/1999/xhtml"

// forbiddenElements are the XHTML elements a FHIR narrative must not hold (txt-1): active
// content, forms, and document-level elements.
var forbiddenElements = map[string]bool{
	"script": true, "noscript": true, "object": true, "applet": true, "embed": true, "iframe": true,
	"frame": true, "frameset": true, "form": true, "input": true, "button": true, "select": true,
	"textarea": true, "base": true, "link": true, "meta": true, "head": true, "body": true,
	"html": true, "title": true, "svg": true, "math": true, "audio": true, "video": true,
}

// htmlProblem is one breach of the narrative rules: the invariant it breaks and what.
type htmlProblem struct{ key, what string }

// htmlProblems checks a narrative div natively, as htmlChecks() does for txt-1 and txt-2:
// well-formed XHTML whose root is an xhtml div, no scripts, event handlers, active or
// document-level elements, no javascript: links, and some non-whitespace content.
func htmlProblems(div string) []htmlProblem {
	dec := xml.NewDecoder(strings.NewReader(div))
	dec.Strict = true
	dec.Entity = xml.HTMLEntity
	var out []htmlProblem
	depth, content := 0, false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return append(out, htmlProblem{"txt-1", "malformed XHTML (" + err.Error() + ")"})
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name := strings.ToLower(t.Name.Local)
			if depth == 0 && (name != "div" || t.Name.Space != xhtmlNS) {
				out = append(out, htmlProblem{"txt-1", "a root element other than an XHTML div"})
			}
			depth++
			if forbiddenElements[name] {
				out = append(out, htmlProblem{"txt-1", "the element <" + name + ">"})
			}
			if name == "img" {
				content = true
			}
			for _, a := range t.Attr {
				an := strings.ToLower(a.Name.Local)
				if strings.HasPrefix(an, "on") {
					out = append(out, htmlProblem{"txt-1", "the event handler attribute " + an})
				}
				if (an == "href" || an == "src") && strings.HasPrefix(strings.ToLower(strings.TrimSpace(a.Value)), "javascript:") {
					out = append(out, htmlProblem{"txt-1", "a javascript: URL in " + an})
				}
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth > 0 && strings.TrimSpace(string(t)) != "" {
				content = true
			}
		}
	}
	if !content && len(out) == 0 {
		out = append(out, htmlProblem{"txt-2", "no non-whitespace content"})
	}
	return out
}
