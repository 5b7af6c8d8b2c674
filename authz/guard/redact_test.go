package guard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/internal/datasets"
	"github.com/fhirgate/fhirgate/model"
)

func roleCtx(g *Guard, p *authz.Principal) context.Context {
	return g.WithPrincipal(context.Background(), p)
}

// policyOracle decides element reads from the policy lines themselves, as policy.csv's header
// states them: reading Type.element needs the element allowed, the resource type readable when
// the element is a resource's, and the element's data type readable when it is an object.
type policyOracle struct {
	policy *authz.Policy
	p      *authz.Principal
}

func (o policyOracle) role(fn func(role string) bool) bool {
	return slices.ContainsFunc(o.p.Roles, fn)
}

func (o policyOracle) typeReadable(typ string) bool {
	return o.role(func(r string) bool { return o.policy.Allows(r, typ, authz.ActRead) }) && o.p.ScopeAllows(typ, authz.ActRead)
}

func (o policyOracle) elementReadable(obj, key string) bool {
	def := testSchema.Types[obj]
	f := def.Fields.ForName(key)
	if f == nil || f.Name == "_reverse" || f.Name == "_reverseConnection" {
		return false
	}
	name := strings.TrimPrefix(key, "_")
	vt := testSchema.Types[f.Type.Name()]
	return o.role(func(r string) bool {
		ok := o.policy.Allows(r, obj+"."+name, authz.ActRead)
		if model.IsResourceType(obj) {
			ok = ok && o.policy.Allows(r, obj, authz.ActRead) && o.p.ScopeAllows(obj, authz.ActRead)
		}
		if vt != nil && vt.Kind == ast.Object && !model.IsResourceType(vt.Name) {
			ok = ok && o.policy.Allows(r, vt.Name, authz.ActRead)
		}
		return ok
	})
}

// expect computes, on the decoded tree, what Redact should return for a resource: an
// implementation independent of Redact's byte scanner, deciding from the policy.
func (o policyOracle) expect(typ string, res map[string]any, top bool) map[string]any {
	out := o.object(typ, res, true)
	_ = top
	return out
}

func (o policyOracle) object(typ string, in map[string]any, resource bool) map[string]any {
	out := map[string]any{}
	for k, v := range in {
		if resource && (k == "resourceType" || k == "id" || k == "meta") {
			out[k] = v
			continue
		}
		if !o.elementReadable(typ, k) {
			continue
		}
		f := testSchema.Types[typ].Fields.ForName(k)
		vt := testSchema.Types[f.Type.Name()]
		var kept any
		switch {
		case vt == nil || (vt.Kind != ast.Object && vt.Kind != ast.Interface && vt.Kind != ast.Union):
			kept = v
		default:
			kept = o.value(vt, v, k)
		}
		if kept != nil {
			out[k] = kept
		}
	}
	if typ == "Narrative" && out["div"] == nil {
		return nil
	}
	if len(out) == 0 && len(in) > 0 {
		return nil
	}
	return out
}

func (o policyOracle) value(vt *ast.Definition, v any, key string) any {
	ext := strings.HasPrefix(key, "_")
	one := func(e any) any {
		m, ok := e.(map[string]any)
		if !ok {
			return e
		}
		if vt.Kind == ast.Object && !model.IsResourceType(vt.Name) {
			if r := o.object(vt.Name, m, false); r != nil {
				return r
			}
			return nil
		}
		// A resource, of any type (contained) or of one (Bundle.entry.response.outcome).
		t, _ := m["resourceType"].(string)
		if !model.IsResourceType(t) || !o.typeReadable(t) {
			return nil
		}
		r := o.object(t, m, true)
		if key != "contained" && !reflect.DeepEqual(r, m) {
			label(r)
		}
		return r
	}
	l, ok := v.([]any)
	if !ok {
		return one(v)
	}
	var out []any
	kept := 0
	for _, e := range l {
		r := one(e)
		switch {
		case r != nil:
			out = append(out, r)
			kept++
		case ext:
			out = append(out, nil)
		case e == nil:
			out = append(out, nil)
		}
	}
	if kept == 0 && len(l) > 0 {
		return nil
	}
	if out == nil {
		return []any{}
	}
	return out
}

func decode(t testing.TB, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%v: %.200s", err, b)
	}
	return m
}

// label adds the REDACTED label to a decoded resource.
func label(res map[string]any) {
	meta, _ := res["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		res["meta"] = meta
	}
	sec, _ := meta["security"].([]any)
	meta["security"] = append(sec, map[string]any{"system": RedactedSystem, "code": RedactedCode, "display": "redacted"})
}

// unlabel removes the REDACTED label Redact adds, and reports whether it was there.
func unlabel(res map[string]any) bool {
	meta, _ := res["meta"].(map[string]any)
	sec, _ := meta["security"].([]any)
	for i, s := range sec {
		if c, _ := s.(map[string]any); c["system"] == RedactedSystem && c["code"] == RedactedCode {
			sec = slices.Delete(sec, i, i+1)
			if len(sec) == 0 {
				delete(meta, "security")
			} else {
				meta["security"] = sec
			}
			if len(meta) == 0 {
				delete(res, "meta")
			}
			return true
		}
	}
	return false
}

// TestRedactEveryExample: for every official example and every role of the policy (and a
// SMART-scoped principal), Redact returns exactly what the policy lets the role read, decided
// independently on the decoded tree; nothing hidden gets through, nothing readable is lost,
// labelled exactly when something was removed, and the input itself when nothing was.
func TestRedactEveryExample(t *testing.T) {
	g := testGuard(t)
	files := datasets.Files(t, datasets.FHIRExamples, "*.json")
	var principals []*authz.Principal
	for _, r := range g.policy.Roles() {
		principals = append(principals, &authz.Principal{Roles: []string{r}})
	}
	principals = append(principals, &authz.Principal{Roles: []string{authz.RoleClinician}, Scopes: []authz.Scope{{Type: "Observation", Actions: authz.Read}, {Type: "Patient", Actions: authz.Read}, {Type: "Bundle", Actions: authz.Read}}})
	if len(principals) < 5 {
		t.Fatalf("policy names %d roles", len(principals)-1)
	}
	checked, redacted, unchanged := 0, 0, 0
	for _, p := range principals {
		ctx := roleCtx(g, p)
		o := policyOracle{g.policy, p}
		for _, f := range files {
			in := decode(t, f.Data)
			typ, _ := in["resourceType"].(string)
			out, err := Redact(ctx, typ, f.Data)
			if !o.typeReadable(typ) {
				if !errors.Is(err, fault.Forbidden) {
					t.Errorf("%v %s: unreadable type gave %v", p.Roles, f.Name, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%v %s: %v", p.Roles, f.Name, err)
			}
			checked++
			want := o.expect(typ, in, true)
			got := decode(t, out)
			labelled := unlabel(got)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%v %s: %s", p.Roles, f.Name, firstDiff("", got, want))
				continue
			}
			same := reflect.DeepEqual(want, in)
			if labelled == same {
				t.Errorf("%v %s: labelled %v, but removed something: %v", p.Roles, f.Name, labelled, !same)
			}
			if same {
				unchanged++
				if &out[0] != &f.Data[0] {
					t.Errorf("%v %s: nothing removed, yet not the input returned", p.Roles, f.Name)
				}
			} else {
				redacted++
			}
		}
	}
	t.Logf("%d redactions checked (%d principals, %d examples): %d redacted, %d unchanged", checked, len(principals), len(files), redacted, unchanged)
	if redacted < 500 || unchanged < 1000 {
		t.Errorf("want both kinds of answer in numbers: %d redacted, %d unchanged", redacted, unchanged)
	}
}

// TestRedactAnalystPatient names what the analyst loses of a patient, as the policy's comment
// lists it.
func TestRedactAnalystPatient(t *testing.T) {
	g := testGuard(t)
	raw := []byte(`{"resourceType":"Patient","id":"p1","meta":{"versionId":"3"},` +
		`"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">Ann Smith</div>"},` +
		`"identifier":[{"system":"urn:mrn","value":"123"}],"name":[{"family":"Smith","given":["Ann"]}],` +
		`"_birthDate":{"extension":[{"url":"http://x","valueString":"y"}]},` +
		`"telecom":[{"system":"phone","value":"555"}],"gender":"female","birthDate":"1970-01-02",` +
		`"address":[{"line":["1 Main St"],"city":"Lynn","state":"MA","country":"US"}],` +
		`"managingOrganization":{"reference":"Organization/o1","display":"Acme"},` +
		`"contained":[{"resourceType":"AuditEvent","id":"a"},{"resourceType":"Practitioner","id":"pr","name":[{"family":"X"}],"gender":"male"}],` +
		`"extension":[{"url":"http://w","valueDecimal":1.50}]}`)
	out, err := Redact(roleCtx(g, &authz.Principal{Roles: []string{authz.RoleAnalyst}}), "Patient", raw)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"resourceType":"Patient","id":"p1","meta":{"versionId":"3","security":[` + string(redactedCoding) + `]},` +
		`"gender":"female","address":[{"state":"MA","country":"US"}],"managingOrganization":{"reference":"Organization/o1"},` +
		`"contained":[{"resourceType":"Practitioner","id":"pr","gender":"male"}],"extension":[{"url":"http://w","valueDecimal":1.50}]}`
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	// Without meta, the label brings one; the analyst keeps what is not hidden byte for byte.
	out, err = Redact(roleCtx(g, &authz.Principal{Roles: []string{authz.RoleAnalyst}}), "Patient", []byte(`{"resourceType":"Patient", "name" : [{"text":"A"}], "gender":"male"}`))
	if err != nil || string(out) != `{"resourceType":"Patient","gender":"male","meta":{"security":[`+string(redactedCoding)+`]}}` {
		t.Errorf("got %s, %v", out, err)
	}
	// A second redaction labels once.
	again, err := Redact(roleCtx(g, &authz.Principal{Roles: []string{authz.RoleAnalyst}}), "Patient", append(out[:len(out)-1:len(out)-1], `,"name":[{"text":"B"}]}`...))
	if err != nil || bytes.Count(again, []byte(RedactedCode)) != 1 {
		t.Errorf("relabelled: %s, %v", again, err)
	}
}

func TestRedactMalformed(t *testing.T) {
	g := testGuard(t)
	ctx := roleCtx(g, &authz.Principal{Roles: []string{authz.RoleAnalyst}})
	for _, bad := range []string{
		`{"resourceType":"Patient","name":[{"family":"x"}]`,
		`{"resourceType":"Patient","name":[{"family":"x"]}`,
		`{"resourceType":"Patient","name":[{"family":"x"}]} x`,
		`{"resourceType":"Patient","name":` + strings.Repeat("[", 10000),
		`{"resourceType":"Patient","meta":[],"name":[]}`,
		`{"resourceType":"Patient","meta":{"security":{}},"name":[{}]}`,
	} {
		if out, err := Redact(ctx, "Patient", []byte(bad)); err == nil {
			t.Errorf("%.80s: no error, got %.80s", bad, out)
		}
	}
	if _, err := Redact(ctx, "AuditEvent", []byte(`{"resourceType":"AuditEvent"}`)); !errors.Is(err, fault.Forbidden) {
		t.Errorf("analyst AuditEvent: %v", err)
	}
	if out, err := Redact(context.Background(), "AuditEvent", []byte(`{"name":1}`)); err != nil || string(out) != `{"name":1}` {
		t.Errorf("no caller: %s %v", out, err)
	}
}

// FuzzRedact: no input makes Redact panic; what it returns for an object is JSON.
func FuzzRedact(f *testing.F) {
	g := testGuard(f)
	ctx := roleCtx(g, &authz.Principal{Roles: []string{authz.RoleAnalyst}})
	for _, file := range datasets.Files(f, datasets.FHIRExamples, "Patient-*.json")[:5] {
		f.Add(file.Data)
	}
	f.Add([]byte(`{"resourceType":"Patient","contained":[{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","name":[]}}]}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, err := Redact(ctx, "Patient", raw)
		if err == nil && json.Valid(raw) && !json.Valid(out) {
			t.Fatalf("invalid output %q from %q", out, raw)
		}
	})
}

func BenchmarkRedact(b *testing.B) {
	g := testGuard(b)
	raw := datasets.ReadFile(b, datasets.FHIRExamples, "Patient-example.json")
	for _, bc := range []struct {
		name string
		role string
	}{{"admin", authz.RoleAdmin}, {"analyst", authz.RoleAnalyst}} {
		ctx := roleCtx(g, &authz.Principal{Roles: []string{bc.role}})
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if _, err := Redact(ctx, "Patient", raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// The yardstick: decoding the same JSON, which any read that looks inside a resource pays.
	b.Run("json.Unmarshal", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// firstDiff describes where two decoded trees first differ.
func firstDiff(path string, got, want any) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: got %.200v, want an object", path, got)
		}
		for _, k := range slices.Sorted(maps.Keys(w)) {
			if _, ok := g[k]; !ok {
				return fmt.Sprintf("%s.%s: missing, want %.200v", path, k, w[k])
			}
			if !reflect.DeepEqual(g[k], w[k]) {
				return firstDiff(path+"."+k, g[k], w[k])
			}
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				return fmt.Sprintf("%s.%s: got %.200v, want nothing", path, k, g[k])
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: got %.300v, want %.300v", path, got, want)
		}
		for i := range w {
			if !reflect.DeepEqual(g[i], w[i]) {
				return firstDiff(fmt.Sprintf("%s[%d]", path, i), g[i], w[i])
			}
		}
	}
	return fmt.Sprintf("%s: got %.200v, want %.200v", path, got, want)
}
