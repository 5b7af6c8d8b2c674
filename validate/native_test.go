package validate

import (
	"strings"
	"testing"

	"github.com/fhirgate/fhirgate/internal/datasets"
)

// nativeHolds is the native check of ele-1 or ext-1 on a complex node.
func nativeHolds(key string, node map[string]any) bool {
	w := &walker{out: &Outcome{}}
	if key == "ele-1" {
		w.ele1(node, "")
	} else {
		w.ext1(node, "")
	}
	return len(w.out.Issues) == 0
}

// TestNativeInvariantsAgree shows that the native ele-1 and ext-1 agree with their FHIRPath
// expressions, evaluated by the engine, on every complex node of the official examples they
// apply to, and on nodes mutated to break them.
func TestNativeInvariantsAgree(t *testing.T) {
	v := mustValidator(t)
	engine := fhirpathEngine{terms: v.terms}
	compiled := map[int]Expression{}
	for i, c := range v.consts {
		if nativeKeys[c.Key] {
			x, err := engine.Compile(c.Expression)
			if err != nil {
				t.Fatalf("%s: %v", c.Key, err)
			}
			compiled[i] = x
		}
	}
	checked := map[string]int{}
	broken := map[string]int{}
	check := func(name, key string, x Expression, node map[string]any, typ string, res map[string]any) {
		out, err := x.Eval(node, typ, res, res)
		if err != nil {
			t.Fatalf("%s %s: %v", name, key, err)
		}
		fp := !(len(out) == 1 && out[0] == false)
		if native := nativeHolds(key, node); native != fp {
			t.Errorf("%s: %s native %v, FHIRPath %v on %v", name, key, native, fp, node)
		}
		checked[key]++
		if !fp {
			broken[key]++
		}
	}
	for _, f := range datasets.Files(t, datasets.FHIRExamples, "*.json") {
		res := decodeObject(t, f.Data)
		w := &walker{v: v, out: &Outcome{}}
		w.visit = func(node map[string]any, cs []int, kinds []string) {
			typ := strings.TrimPrefix(kinds[len(kinds)-1], "ty:")
			if p, ok := strings.CutPrefix(typ, "el:"); ok {
				typ = v.backbones[p]
			}
			for _, i := range cs {
				x := compiled[i]
				if x == nil {
					continue
				}
				key := v.consts[i].Key
				check(f.Name, key, x, node, typ, res)
				// The same node broken: emptied to its id (ele-1); with both or neither of
				// value and extension (ext-1).
				var mutated map[string]any
				if key == "ele-1" {
					mutated = map[string]any{"id": "x"}
				} else {
					mutated = map[string]any{"url": "http://example.org/e"}
				}
				check(f.Name+" (mutated)", key, x, mutated, typ, res)
			}
		}
		rt, _ := res["resourceType"].(string)
		w.resource(res, rt, rt)
	}
	t.Logf("nodes checked: %v; of them breaking the invariant: %v", checked, broken)
	if checked["ele-1"] < 10000 || checked["ext-1"] < 100 || broken["ele-1"] == 0 || broken["ext-1"] == 0 {
		t.Errorf("too few nodes checked: %v (broken %v)", checked, broken)
	}
}
