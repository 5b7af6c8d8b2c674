package fhirpath

import (
	"strings"
	"testing"
)

// TestFusedDescendants checks that the fused plans (descendants().ofType(T) filtering while
// it walks, count() counting depth first) give what the unfused evaluation gives, on every
// resource of the comparison sample (examples and Synthea, with primitives' extensions).
func TestFusedDescendants(t *testing.T) {
	resources := jsSample(t)
	types := []string{"Reference", "Extension", "string", "code", "uri", "Resource", "DomainResource",
		"Element", "BackboneElement", "Quantity", "Coding", "dateTime", "NoSuchType", "System.String"}
	checked := 0
	for _, typ := range types {
		for _, pair := range [][2]string{
			{"descendants().ofType(" + typ + ")", "descendants().select($this).ofType(" + typ + ")"},
			{"descendants().ofType(" + typ + ").count()", "descendants().ofType(" + typ + ").select($this).count()"},
			{"descendants().count()", "descendants().select($this).count()"},
		} {
			fused, plain := MustCompile(pair[0]), MustCompile(pair[1])
			for _, r := range resources {
				got, err1 := fused.Eval(r.data)
				want, err2 := plain.Eval(r.data)
				g, w := strings.Join(render(got), " | "), strings.Join(render(want), " | ")
				if err1 != nil || err2 != nil || g != w {
					t.Fatalf("%s on %s = %.200s (%v), want %.200s (%v)", pair[0], r.typ, g, err1, w, err2)
				}
				checked++
			}
		}
	}
	t.Logf("%d evaluations agreed", checked)
	if checked < len(types)*3*10 {
		t.Fatalf("only %d evaluations checked", checked)
	}
}
