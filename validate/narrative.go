package validate

import (
	"encoding/xml"
	"errors"
	"io"
	"strings"

	"github.com/fhirgate/fhirgate/fhirpath"
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

// htmlProblems checks a narrative div as htmlChecks() does for txt-1 and txt-2: txt-1 by
// fhirpath.SafeXHTML, the one home of the narrative rules (the permitted elements and
// attributes: no scripts, event handlers or active content), then the blacklist below as a
// second line; txt-2 natively: some non-whitespace content.
func htmlProblems(div string) []htmlProblem {
	if err := fhirpath.SafeXHTML(div); err != nil {
		return []htmlProblem{{"txt-1", err.Error()}}
	}
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
			return append(out, htmlProblem{"txt-1", "the narrative is not well-formed XHTML"})
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name := strings.ToLower(t.Name.Local)
			if depth == 0 && (name != "div" || t.Name.Space != xhtmlNS) {
				out = append(out, htmlProblem{"txt-1", "the narrative must be a div in the XHTML namespace"})
			}
			depth++
			if forbiddenElements[name] {
				out = append(out, htmlProblem{"txt-1", "the narrative must not contain <" + name + ">"})
			}
			if name == "img" {
				content = true
			}
			for _, a := range t.Attr {
				an := strings.ToLower(a.Name.Local)
				if strings.HasPrefix(an, "on") {
					out = append(out, htmlProblem{"txt-1", "the narrative must not contain the event handler " + an})
				}
				if (an == "href" || an == "src") && strings.HasPrefix(strings.ToLower(strings.TrimSpace(a.Value)), "javascript:") {
					out = append(out, htmlProblem{"txt-1", "the narrative must not contain a javascript: URL in " + an})
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
		out = append(out, htmlProblem{"txt-2", "the narrative has no non-whitespace content"})
	}
	return out
}
