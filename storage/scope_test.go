package storage_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
)

// The patient the writer's token is bound to, and another one.
const (
	patA = "pat-a"
	patB = "pat-b"
)

// whereRE matches a where(...) step of a FHIRPath expression, one level of nested
// parentheses included: "where(resolve() is Patient)".
var whereRE = regexp.MustCompile(`\.where\((?:[^()]|\([^()]*\))*\)`)

// refElements returns the elements that reference parameter code of typ reads, from its
// expression in the search-parameter table: each branch of a union, without where()
// filters ("Condition.subject.where(resolve() is Patient)" reads ["subject"]). ok is false
// for expressions that are not such plain paths.
func refElements(typ, code string) (paths [][]string, targets []string, ok bool) {
	for _, p := range model.SearchParams(typ) {
		if p.Code != code || p.Type != "reference" {
			continue
		}
		for _, branch := range strings.Split(p.Expression, " | ") {
			branch = whereRE.ReplaceAllString(strings.TrimSpace(branch), "")
			parts := strings.Split(branch, ".")
			if parts[0] != typ || len(parts) < 2 || strings.ContainsAny(branch, "() ") {
				return nil, nil, false
			}
			paths = append(paths, parts[1:])
		}
		return paths, p.Targets, true
	}
	return nil, nil, false
}

// doc builds a resource of one type as JSON, placing references along element paths; the
// model's Go types say which elements repeat.
type doc struct {
	typ string
	rt  reflect.Type
	m   map[string]any
}

func newDoc(typ string) *doc {
	return &doc{typ: typ, rt: reflect.TypeOf(model.New(typ)).Elem(), m: map[string]any{"resourceType": typ}}
}

var referenceType = reflect.TypeOf(model.Reference{})

// ref sets a Reference to ref at path, adding an element to each repeating element on the
// way; it fails when path does not lead to a Reference.
func (d *doc) ref(path []string, ref string) error {
	m, rt := d.m, d.rt
	for i, seg := range path {
		idx, ok := model.FieldIndex(rt, seg)
		if !ok {
			return fmt.Errorf("%s: no element %q", d.typ, strings.Join(path[:i+1], "."))
		}
		ft := rt.Field(idx).Type
		repeats := ft.Kind() == reflect.Slice
		if repeats {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		last := i == len(path)-1
		if last && ft != referenceType {
			return fmt.Errorf("%s.%s is a %s, not a Reference", d.typ, strings.Join(path, "."), ft.Name())
		}
		child := map[string]any{}
		if last {
			child["reference"] = ref
		}
		switch existing, _ := m[seg].(map[string]any); {
		case repeats:
			list, _ := m[seg].([]any)
			m[seg] = append(list, child)
		case existing != nil && !last:
			child = existing
		default:
			m[seg] = child
		}
		m, rt = child, ft
	}
	return nil
}

// ext adds an extension whose value is a Reference to ref: a reference that no search
// parameter reads.
func (d *doc) ext(ref string) *doc {
	list, _ := d.m["extension"].([]any)
	d.m["extension"] = append(list, map[string]any{"url": "http://example.org/fhirgate-test", "valueReference": map[string]any{"reference": ref}})
	return d
}

// resource returns the document as a model resource with the given id.
func (d *doc) resource(t testing.TB, id string) model.Resource {
	t.Helper()
	m := maps.Clone(d.m)
	m["id"] = id
	b, _ := json.Marshal(m)
	r, err := model.Unmarshal(b)
	if err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return r
}

// shape is what the tests need to know about a type of the Patient compartment, all from
// the generated tables: the elements its subject-like compartment parameters read, those
// its other compartment parameters read, and a reference parameter outside the compartment.
type shape struct {
	typ      string
	subjects [][]string // distinct elements of the subject-like parameters
	others   [][]string // distinct elements of the other compartment parameters, none a subject's
	extra    []string   // a non-compartment reference element, nil when none is buildable
	extraTo  string     // a type, other than Patient, that extra may refer to
}

func shapeOf(t testing.TB, typ string) shape {
	t.Helper()
	sh := shape{typ: typ}
	seen := map[string]bool{}
	add := func(code string, into *[][]string) {
		paths, _, ok := refElements(typ, code)
		if !ok {
			t.Fatalf("%s: compartment parameter %s has no plain element path", typ, code)
		}
		for _, path := range paths {
			if k := strings.Join(path, "."); !seen[k] {
				seen[k] = true
				*into = append(*into, path)
			}
		}
	}
	subj := authz.SubjectParams(typ)
	for _, code := range subj {
		add(code, &sh.subjects)
	}
	for _, code := range authz.CompartmentParams(typ) {
		if !slices.Contains(subj, code) {
			add(code, &sh.others)
		}
	}
	for _, p := range model.SearchParams(typ) {
		if p.Type != "reference" || slices.Contains(authz.CompartmentParams(typ), p.Code) {
			continue
		}
		paths, targets, ok := refElements(typ, p.Code)
		if !ok || len(paths) != 1 || seen[strings.Join(paths[0], ".")] || len(targets) == 0 || targets[0] == "Patient" {
			continue
		}
		path := paths[0]
		if err := newDoc(typ).ref(path, targets[0]+"/x"); err == nil {
			sh.extra, sh.extraTo = path, targets[0]
			break
		}
	}
	return sh
}

// build returns a resource of sh's type with every subject element referring to subj and
// every other compartment element to other; with extra, a non-compartment reference too.
func (sh shape) build(t testing.TB, subj, other string, extra bool) *doc {
	t.Helper()
	d := newDoc(sh.typ)
	for _, p := range sh.subjects {
		if err := d.ref(p, "Patient/"+subj); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range sh.others {
		if err := d.ref(p, "Patient/"+other); err != nil {
			t.Fatal(err)
		}
	}
	if other != subj && len(sh.others) == 0 {
		d.ext("Patient/" + other) // the only place left to refer to the other patient
	}
	if extra {
		if sh.extra != nil {
			if err := d.ref(sh.extra, sh.extraTo+"/x"); err != nil {
				t.Fatal(err)
			}
		} else {
			d.ext("Practitioner/x")
		}
	}
	return d
}

// compartmentTypes returns the resource types of the Patient compartment table, and those
// of them with subject-like parameters.
func compartmentTypes() (all, withSubject []string) {
	for _, typ := range model.ResourceTypes() {
		if authz.CompartmentParams(typ) != nil {
			all = append(all, typ)
		}
		if authz.SubjectParams(typ) != nil {
			withSubject = append(withSubject, typ)
		}
	}
	return all, withSubject
}

func scopedTo(patient string) context.Context {
	return storage.WithScope(context.Background(), authz.PatientCompartment{ID: patient}.Scope())
}

func commit(ctx context.Context, s *storage.Store, op storage.Op, typ, id string, r model.Resource) error {
	w := storage.Write{Op: op, Type: typ, ID: id}
	if r != nil {
		w.Resource = r
	}
	_, err := s.Commit(ctx, []storage.Write{w})
	return err
}

func count(t testing.TB, s *storage.Store, typ string) int64 {
	t.Helper()
	n, err := s.Count(context.Background(), typ, storage.Query{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestScopedWritesStayInTheSubjectsRecord: for every type of the Patient compartment with
// subject-like parameters, a writer bound to patient A may write a resource only when it
// is about A. A resource about B is refused however many other compartment references
// name A; one about A is refused when any reference names B; a reference outside the
// compartment to something else changes nothing. Refused writes leave nothing behind.
func TestScopedWritesStayInTheSubjectsRecord(t *testing.T) {
	s := storage.IndexedTestStore(t, search.Indexer{})
	ctx := scopedTo(patA)
	_, types := compartmentTypes()
	if len(types) < 55 {
		t.Fatalf("only %d types with subject-like parameters: the table did not load", len(types))
	}
	cases, withOther, withExtra, multi := 0, 0, 0, 0
	for _, typ := range types {
		sh := shapeOf(t, typ)
		if len(sh.subjects) == 0 {
			t.Fatalf("%s: subject-like parameters %v read no element", typ, authz.SubjectParams(typ))
		}
		if len(sh.others) > 0 {
			withOther++
		}
		if sh.extra != nil {
			withExtra++
		}
		for _, extra := range []bool{false, true} {
			try := func(name string, d *doc, wantForbidden bool) {
				t.Helper()
				cases++
				before := count(t, s, typ)
				id := fmt.Sprintf("%s-%d", strings.ToLower(typ), cases)
				err := commit(ctx, s, storage.OpCreate, typ, id, d.resource(t, id))
				after := count(t, s, typ)
				switch {
				case wantForbidden && (!errors.Is(err, storage.ErrForbidden) || after != before):
					t.Errorf("%s (extra reference %v): %s: got %v and %d resources from %d, want ErrForbidden and nothing written", typ, extra, name, err, after, before)
				case !wantForbidden && (err != nil || after != before+1):
					t.Errorf("%s (extra reference %v): %s: got %v, want it written", typ, extra, name, err)
				case !wantForbidden:
					if _, err := s.Read(ctx, typ, id); err != nil {
						t.Errorf("%s: %s: the writer cannot read back what it wrote: %v", typ, name, err)
					}
				}
			}
			// The case: about B, linked to A through another compartment parameter
			// (or, for types whose only links are their subject, an extension).
			try("subject B, other links A", sh.build(t, patB, patA, extra), true)
			try("all A", sh.build(t, patA, patA, extra), false)
			// About A, but another compartment link (or an extension) names B.
			try("subject A, other links B", sh.build(t, patA, patB, extra), true)
			try("all A, one more reference to B", sh.build(t, patA, patA, extra).ext("Patient/"+patB), true)
			// One subject-like element at B, the others at A (AuditEvent's patient reads two).
			if len(sh.subjects) > 1 {
				multi++
				d := newDoc(typ)
				for i, p := range sh.subjects {
					if err := d.ref(p, "Patient/"+map[bool]string{true: patB, false: patA}[i == 0]); err != nil {
						t.Fatal(err)
					}
				}
				try("first subject B, other subjects A", d, true)
			}
		}
	}
	t.Logf("%d types with subject-like parameters, %d of them with other compartment parameters, %d with a non-compartment reference parameter, %d with several subject elements; %d writes checked",
		len(types), withOther, withExtra, multi/2, cases)
	if cases < 8*len(types) || withOther < 20 || withExtra < 30 || multi == 0 {
		t.Errorf("%d cases over %d types (%d with other links, %d with an extra reference): the enumeration shrank", cases, len(types), withOther, withExtra)
	}
}

// TestScopedWriteNeedsTheCurrentVersionAdmitted: a resource about B that a writer bound to
// A can read, because A took part in it, is still B's record: the writer may neither
// delete it nor take it over by rewriting its subject. For every type with both
// subject-like and other compartment parameters.
func TestScopedWriteNeedsTheCurrentVersionAdmitted(t *testing.T) {
	s := storage.IndexedTestStore(t, search.Indexer{})
	ctx := scopedTo(patA)
	_, types := compartmentTypes()
	checked := 0
	for _, typ := range types {
		sh := shapeOf(t, typ)
		if len(sh.others) == 0 {
			continue
		}
		checked++
		id := "theirs-" + strings.ToLower(typ)
		if err := commit(context.Background(), s, storage.OpPut, typ, id, sh.build(t, patB, patA, false).resource(t, id)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Read(ctx, typ, id); err != nil {
			t.Fatalf("%s: A cannot read the resource A took part in: %v", typ, err)
		}
		if err := commit(ctx, s, storage.OpDelete, typ, id, nil); !errors.Is(err, storage.ErrForbidden) {
			t.Errorf("%s: delete of B's resource: %v, want ErrForbidden", typ, err)
		}
		if err := commit(ctx, s, storage.OpPut, typ, id, sh.build(t, patA, patA, false).resource(t, id)); !errors.Is(err, storage.ErrForbidden) {
			t.Errorf("%s: taking over B's resource: %v, want ErrForbidden", typ, err)
		}
		if rec, err := s.Read(context.Background(), typ, id); err != nil || rec.VersionID != 1 {
			t.Errorf("%s: B's resource after refused writes: %v %v", typ, rec, err)
		}
	}
	t.Logf("%d types checked", checked)
	if checked < 20 {
		t.Errorf("only %d types with subject-like and other compartment parameters", checked)
	}
}

// TestScopedWritesAnswerOutsideLikeAbsent: for every type of the Patient compartment, an
// update or delete by a writer bound to A of an id used by B's record, or deleted, answers
// exactly like one of an unused id, changes nothing and creates nothing; the content sent
// is one A could write. So a patient-bound writer cannot create with an id of its choosing.
func TestScopedWritesAnswerOutsideLikeAbsent(t *testing.T) {
	s := storage.IndexedTestStore(t, search.Indexer{})
	ctx := scopedTo(patA)
	types, _ := compartmentTypes()
	if len(types) < 60 {
		t.Fatalf("only %d types in the Patient compartment: the table did not load", len(types))
	}
	// The error message with the id replaced: the only part that may differ is the id asked for.
	answer := func(err error, id string) string {
		if err == nil {
			return "<nil>"
		}
		return strings.ReplaceAll(err.Error(), id, "<id>")
	}
	calls := 0
	for _, typ := range types {
		sh := shapeOf(t, typ)
		theirs, gone := "theirs-"+strings.ToLower(typ), "gone-"+strings.ToLower(typ)
		mine := sh.build(t, patA, patA, false)
		seed := sh.build(t, patB, patB, false)
		if typ == "Patient" {
			theirs, mine, seed = patB, newDoc(typ), newDoc(typ)
		}
		for _, id := range []string{theirs, gone} {
			if err := commit(context.Background(), s, storage.OpPut, typ, id, seed.resource(t, id)); err != nil {
				t.Fatal(err)
			}
		}
		if err := commit(context.Background(), s, storage.OpDelete, typ, gone, nil); err != nil {
			t.Fatal(err)
		}
		unused := "unused-" + strings.ToLower(typ)
		writes := []struct {
			name    string
			op      storage.Op
			ifMatch int64
		}{{"update", storage.OpPut, 0}, {"update with ifMatch", storage.OpPut, 1}, {"delete", storage.OpDelete, 0}}
		for _, w := range writes {
			try := func(id string) string {
				write := storage.Write{Op: w.op, Type: typ, ID: id, IfMatch: w.ifMatch}
				if w.op == storage.OpPut {
					write.Resource = mine.resource(t, id)
				}
				_, err := s.Commit(ctx, []storage.Write{write})
				calls++
				if !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("%s %s/%s under A's scope: %v, want ErrNotFound", w.name, typ, id, err)
				}
				return answer(err, id)
			}
			want := try(unused)
			for _, id := range []string{theirs, gone} {
				if got := try(id); got != want {
					t.Errorf("%s %s/%s answers %q, an unused id %q", w.name, typ, id, got, want)
				}
			}
		}
		if _, err := s.Read(context.Background(), typ, unused); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s/%s was created: %v", typ, unused, err)
		}
		if rec, err := s.Read(context.Background(), typ, theirs); err != nil || rec.VersionID != 1 {
			t.Errorf("%s/%s was changed: %v %v", typ, theirs, rec, err)
		}
		if rec, err := s.Read(context.Background(), typ, gone); !errors.Is(err, storage.ErrDeleted) || rec.VersionID != 2 {
			t.Errorf("%s/%s was changed: %v %v", typ, gone, rec, err)
		}
	}
	t.Logf("%d types, %d scoped writes checked", len(types), calls)
	if calls != len(types)*9 {
		t.Errorf("%d writes for %d types", calls, len(types))
	}
}
