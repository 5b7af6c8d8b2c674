package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"reflect"
	"regexp"
	"strconv"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/authz/guard"
	"github.com/fhirgate/fhirgate/fhirpath"
	"github.com/fhirgate/fhirgate/operation"
	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/validate"
)

// patch serves PATCH /fhir/{type}/{id}: a JSON Patch (application/json-patch+json, RFC 6902,
// through github.com/evanphx/json-patch) or a FHIRPath Patch (a Parameters resource,
// application/fhir+json). The patched resource is written as an update of the version it
// was patched from (or of If-Match's), so a concurrent change is never lost: 412 instead.
func (a *restAPI) patch(c *restCall) error {
	if err := guard.CheckType(c.ctx, c.typ, authz.ActUpdate); err != nil {
		return err
	}
	rec, err := a.cfg.Store.Read(c.ctx, c.typ, c.id)
	if err != nil {
		return err
	}
	return a.applyPatch(c, rec)
}

// conditionalPatch serves PATCH /fhir/{type}?criteria: one match is patched; none is 404,
// several 412.
func (a *restAPI) conditionalPatch(c *restCall) error {
	if err := guard.CheckType(c.ctx, c.typ, authz.ActUpdate); err != nil {
		return err
	}
	matches, err := a.match(c.ctx, c.typ, c.r.URL.Query())
	if err != nil {
		return err
	}
	switch len(matches) {
	case 0:
		return newRESTErr(http.StatusNotFound, "not-found", "No %s matches the criteria.", c.typ)
	case 1:
		return a.applyPatch(c, matches[0])
	}
	return newRESTErr(http.StatusPreconditionFailed, "multiple-matches", "The criteria match more than one %s.", c.typ)
}

func (a *restAPI) applyPatch(c *restCall, rec *storage.Record) error {
	w := storage.Write{Op: storage.OpPatch, Type: rec.Type, ID: rec.ID, IfMatch: rec.VersionID}
	if v, err := ifMatch(c.r); err != nil {
		return err
	} else if v > 0 {
		if v != rec.VersionID {
			return newRESTErr(http.StatusPreconditionFailed, "conflict", "If-Match: %s/%s is at version %d.", rec.Type, clipText(rec.ID), rec.VersionID)
		}
	}
	// A patch applies to the resource as the caller sees it: a caller who may not read an
	// element cannot patch around it either.
	visible, err := guard.Redact(c.ctx, rec.Type, rec.JSON)
	if err != nil {
		return err
	}
	if !bytes.Equal(visible, rec.JSON) {
		return newRESTErr(http.StatusForbidden, "forbidden", "Not permitted to patch a %s with elements the caller may not read.", rec.Type)
	}
	body, err := readAll(c.r)
	if err != nil {
		return err
	}
	mt, _, _ := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	var patched []byte
	switch mt {
	case mimeJSONPatch:
		patched, err = jsonPatch(rec.JSON, body)
	case mimeFHIRJSON, mimeJSON, "":
		patched, err = fhirPathPatch(rec.JSON, body)
	default:
		return newRESTErr(http.StatusUnsupportedMediaType, "not-supported", "PATCH takes application/json-patch+json or a FHIRPath Patch Parameters resource as application/fhir+json, not %q.", clipText(mt))
	}
	if err != nil {
		return err
	}
	var head struct {
		ResourceType string `json:"resourceType"`
		ID           string `json:"id"`
	}
	if json.Unmarshal(patched, &head) != nil || head.ResourceType != rec.Type || head.ID != rec.ID {
		return newRESTErr(http.StatusUnprocessableEntity, "processing", "A patch may not change the resource's type or id.")
	}
	res, err := decodeResource(patched)
	if err != nil {
		return err
	}
	w.Resource = res
	ctx, issues := validate.WithCollector(c.ctx)
	recs, err := a.cfg.Store.Commit(ctx, []storage.Write{w})
	if err != nil {
		if isConflict(err) {
			return newRESTErr(http.StatusPreconditionFailed, "conflict", "%s/%s changed while it was patched; read it again and retry.", rec.Type, clipText(rec.ID))
		}
		return err
	}
	return c.answerWrite(http.StatusOK, recs[0], issues.JSON(), "")
}

// jsonPatch applies an RFC 6902 patch: 400 when the patch is malformed, 422 when it does not
// apply (a failed test, a path that is not there).
func jsonPatch(doc, body []byte) ([]byte, error) {
	p, err := jsonpatch.DecodePatch(body)
	if err != nil {
		return nil, newRESTErr(http.StatusBadRequest, "structure", "The body is not a JSON Patch document.")
	}
	out, err := p.ApplyWithOptions(doc, &jsonpatch.ApplyOptions{EnsurePathExistsOnAdd: false, SupportNegativeIndices: false})
	if err != nil {
		return nil, newRESTErr(http.StatusUnprocessableEntity, "processing", "The JSON Patch does not apply: %s.", clipText(err.Error()))
	}
	return out, nil
}

// fhirPathPatch applies a FHIRPath Patch: a Parameters resource of operation parameters with
// parts type, path, name, value, index, source and destination
// (http://hl7.org/fhir/R4/fhirpatch.html).
func fhirPathPatch(doc, body []byte) ([]byte, error) {
	ps, err := operation.Read(bytes.NewReader(body))
	if err != nil || ps.ResourceType != "Parameters" {
		return nil, newRESTErr(http.StatusBadRequest, "structure", "A FHIRPath Patch is a Parameters resource.")
	}
	res, err := decodeTree(doc)
	if err != nil {
		return nil, err
	}
	for i, p := range ps.Parameter {
		if p.Name != "operation" {
			return nil, newRESTErr(http.StatusBadRequest, "invalid", "FHIRPath Patch parameter %d is %q, not operation.", i+1, clipText(p.Name))
		}
		if err := patchOp(res, p.Part); err != nil {
			return nil, fmt.Errorf("operation %d: %w", i+1, err)
		}
	}
	return marshalRaw(res)
}

func decodeTree(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("api: patch: stored resource: %w", err)
	}
	return m, nil
}

// patchOp applies one FHIRPath Patch operation to res.
func patchOp(res map[string]any, parts []operation.Parameter) error {
	op := map[string]operation.Parameter{}
	for _, p := range parts {
		op[p.Name] = p
	}
	str := func(name string) string {
		for _, v := range op[name].Value {
			var s string
			json.Unmarshal(v, &s)
			return s
		}
		return ""
	}
	num := func(name string) (int, bool) {
		for _, v := range op[name].Value {
			var n int
			if json.Unmarshal(v, &n) == nil && n >= 0 {
				return n, true
			}
		}
		return 0, false
	}
	bad := func(format string, args ...any) error {
		return newRESTErr(http.StatusUnprocessableEntity, "processing", "FHIRPath Patch: "+format, args...)
	}
	typ, path := str("type"), str("path")
	if path == "" {
		return bad("%s needs a path.", typ)
	}
	value := func() (any, error) {
		p, ok := op["value"]
		if !ok {
			return nil, bad("%s at %s needs a value.", typ, clipText(path))
		}
		return patchValue(p)
	}
	switch typ {
	case "add":
		name := str("name")
		if name == "" {
			return bad("add at %s needs a name.", clipText(path))
		}
		v, err := value()
		if err != nil {
			return err
		}
		vals, err := evalPatchPath(res, path)
		if err != nil {
			return err
		}
		m, err := oneObject(vals, path)
		if err != nil {
			return err
		}
		switch cur := m[name].(type) {
		case []any:
			m[name] = append(cur, v)
		case nil:
			if _, isList := v.([]any); !isList && repeats(vals[0].Type, name) {
				v = []any{v}
			}
			m[name] = v
		default:
			return bad("add: %s already has %s; use replace.", clipText(path), clipText(name))
		}
	case "insert", "move":
		parent, key, err := patchParent(res, path)
		if err != nil {
			return err
		}
		list, _ := parent[key].([]any)
		if typ == "insert" {
			i, ok := num("index")
			if !ok || i > len(list) {
				return bad("insert at %s: index out of range.", clipText(path))
			}
			v, err := value()
			if err != nil {
				return err
			}
			parent[key] = append(list[:i], append([]any{v}, list[i:]...)...)
			return nil
		}
		from, ok1 := num("source")
		to, ok2 := num("destination")
		if !ok1 || !ok2 || from >= len(list) || to >= len(list) {
			return bad("move at %s: source or destination out of range.", clipText(path))
		}
		v := list[from]
		list = append(list[:from], list[from+1:]...)
		parent[key] = append(list[:to], append([]any{v}, list[to:]...)...)
	case "delete", "replace":
		vals, err := evalPatchPath(res, path)
		if err != nil {
			return err
		}
		if len(vals) == 0 && typ == "delete" {
			return nil // nothing there: nothing to delete
		}
		if len(vals) != 1 {
			return bad("%s: %s selects %d elements, not one.", typ, clipText(path), len(vals))
		}
		var v any
		if typ == "replace" {
			if v, err = value(); err != nil {
				return err
			}
		}
		return setAt(res, path, vals[0], v, typ == "delete")
	default:
		return bad("unknown operation type %q.", clipText(typ))
	}
	return nil
}

// patchValue reads an operation's value: its value[x], or its parts as an object (a
// backbone element).
func patchValue(p operation.Parameter) (any, error) {
	for _, raw := range p.Value {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, newRESTErr(http.StatusBadRequest, "structure", "FHIRPath Patch: a value is not JSON.")
		}
		return v, nil
	}
	if len(p.Part) > 0 {
		m := map[string]any{}
		for _, part := range p.Part {
			v, err := patchValue(part)
			if err != nil {
				return nil, err
			}
			m[part.Name] = v
		}
		return m, nil
	}
	return nil, newRESTErr(http.StatusUnprocessableEntity, "processing", "FHIRPath Patch: an operation's value is empty.")
}

func evalPatchPath(res map[string]any, path string) ([]fhirpath.Value, error) {
	e, err := fhirpath.Compile(path)
	if err != nil {
		return nil, newRESTErr(http.StatusBadRequest, "invalid", "FHIRPath Patch: path %q does not compile.", clipText(path))
	}
	vals, err := e.Eval(res)
	if err != nil {
		return nil, newRESTErr(http.StatusUnprocessableEntity, "processing", "FHIRPath Patch: path %q does not evaluate.", clipText(path))
	}
	return vals, nil
}

// onePatchTarget evaluates path to the one element (an object) it must select.
func onePatchTarget(res map[string]any, path string) (map[string]any, error) {
	vals, err := evalPatchPath(res, path)
	if err != nil {
		return nil, err
	}
	return oneObject(vals, path)
}

func oneObject(vals []fhirpath.Value, path string) (map[string]any, error) {
	if len(vals) != 1 {
		return nil, newRESTErr(http.StatusUnprocessableEntity, "processing", "FHIRPath Patch: %s selects %d elements, not one.", clipText(path), len(vals))
	}
	m, ok := vals[0].Data.(map[string]any)
	if !ok {
		return nil, newRESTErr(http.StatusUnprocessableEntity, "processing", "FHIRPath Patch: %s is not an element with children.", clipText(path))
	}
	return m, nil
}

// repeats reports whether element name of the FHIR type typ repeats (max *), from the
// specification's definitions; false when typ is not known there.
func repeats(typ, name string) bool {
	def := validate.Base().Types[typ]
	if def == nil {
		return false
	}
	for _, e := range def.Elements {
		if e.Path == typ+"."+name {
			return e.Max == "*"
		}
	}
	return false
}

// lastStep matches the last step of a path that names an element: name or name[index].
var lastStep = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?$`)

// splitPath splits a path at its last top-level dot: its parent's path and its last step.
func splitPath(path string) (parent, step string, ok bool) {
	depth, quote := 0, false
	for i := len(path) - 1; i >= 0; i-- {
		switch ch := path[i]; {
		case ch == '\'':
			quote = !quote
		case quote:
		case ch == ')' || ch == ']':
			depth++
		case ch == '(' || ch == '[':
			depth--
		case ch == '.' && depth == 0:
			return path[:i], path[i+1:], true
		}
	}
	return "", "", false
}

// patchParent evaluates the parent of a path that names a list element (Patient.identifier)
// and returns it with the element's name.
func patchParent(res map[string]any, path string) (map[string]any, string, error) {
	parent, step, ok := splitPath(path)
	m := lastStep.FindStringSubmatch(step)
	if !ok || m == nil || m[2] != "" {
		return nil, "", newRESTErr(http.StatusUnprocessableEntity, "processing", "FHIRPath Patch: %s does not name a list element.", clipText(path))
	}
	p, err := onePatchTarget(res, parent)
	return p, m[1], err
}

// setAt replaces (or deletes) the element target that path selected: an object by identity
// wherever it lies, a primitive through its parent and name.
func setAt(res map[string]any, path string, target fhirpath.Value, v any, del bool) error {
	if obj, ok := target.Data.(map[string]any); ok {
		if locateAndSet(res, obj, v, del) {
			return nil
		}
	}
	parent, step, ok := splitPath(path)
	m := lastStep.FindStringSubmatch(step)
	if !ok || m == nil {
		return newRESTErr(http.StatusUnprocessableEntity, "processing", "FHIRPath Patch: cannot locate %s in the resource.", clipText(path))
	}
	p, err := onePatchTarget(res, parent)
	if err != nil {
		return err
	}
	name := m[1]
	if m[2] != "" {
		i, _ := strconv.Atoi(m[2])
		list, _ := p[name].([]any)
		if i >= len(list) {
			return nil
		}
		if del {
			p[name] = append(list[:i], list[i+1:]...)
		} else {
			list[i] = v
		}
	} else if list, ok := p[name].([]any); ok && len(list) == 1 && !del {
		list[0] = v
	} else if del {
		delete(p, name)
	} else {
		p[name] = v
	}
	if list, ok := p[name].([]any); ok && len(list) == 0 {
		delete(p, name)
	}
	return nil
}

// locateAndSet finds obj by identity below m and replaces or deletes it.
func locateAndSet(m map[string]any, obj map[string]any, v any, del bool) bool {
	same := func(x any) bool {
		o, ok := x.(map[string]any)
		return ok && reflect.ValueOf(o).UnsafePointer() == reflect.ValueOf(obj).UnsafePointer()
	}
	for k, x := range m {
		switch t := x.(type) {
		case map[string]any:
			if same(t) {
				if del {
					delete(m, k)
				} else {
					m[k] = v
				}
				return true
			}
			if locateAndSet(t, obj, v, del) {
				return true
			}
		case []any:
			for i, e := range t {
				if same(e) {
					if del {
						t = append(t[:i], t[i+1:]...)
						if len(t) == 0 {
							delete(m, k)
						} else {
							m[k] = t
						}
					} else {
						t[i] = v
					}
					return true
				}
				if em, ok := e.(map[string]any); ok && locateAndSet(em, obj, v, del) {
					return true
				}
			}
		}
	}
	return false
}
