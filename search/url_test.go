package search

import (
	"context"
	"errors"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestURLArgs(t *testing.T) {
	for _, tc := range []struct {
		typ, query string
		want       map[string]any
	}{
		{"Patient", "name=smith", map[string]any{"name": "smith"}},
		{"Patient", "name:exact=Smith", map[string]any{"name": map[string]any{"exact": "Smith"}}},
		{"Patient", "name=a,b", map[string]any{"name": []any{"a", "b"}}},
		{"Patient", `name=a\,b,c`, map[string]any{"name": []any{"a,b", "c"}}},
		{"Patient", `name=a\\,b`, map[string]any{"name": []any{`a\`, "b"}}},
		{"Patient", `identifier=s\|x`, map[string]any{"identifier": `s\|x`}},
		{"Patient", "name=a&name:contains=b", map[string]any{"name": map[string]any{"and": []any{"a", map[string]any{"contains": "b"}}}}},
		{"Patient", "birthdate=ge1970&birthdate=lt1980", map[string]any{"birthdate": map[string]any{"and": []any{"ge1970", "lt1980"}}}},
		{"Observation", "code:of-type=s|c|v", map[string]any{"code": map[string]any{"of_type": "s|c|v"}}},
		{"Observation", "code:not-in=http://hl7.org/fhir/ValueSet/observation-status", map[string]any{"code": map[string]any{"not_in": "http://hl7.org/fhir/ValueSet/observation-status"}}},
		{"Patient", "gender:missing=true", map[string]any{"gender": map[string]any{"missing": "true"}}},
		{"Observation", "subject:Patient=123", map[string]any{"subject": map[string]any{"Patient": "123"}}},
		{"Observation", "subject:identifier=s|v", map[string]any{"subject": map[string]any{"identifier": "s|v"}}},
		{"Observation", "subject:Patient.name=x,y", map[string]any{"subject": map[string]any{"Patient": map[string]any{"name": []any{"x", "y"}}}}},
		{"Observation", "patient.name:exact=X", map[string]any{"patient": map[string]any{"Patient": map[string]any{"name": map[string]any{"exact": "X"}}}}},
		{"Observation", "patient.organization.name=acme", map[string]any{"patient": map[string]any{"Patient": map[string]any{
			"organization": map[string]any{"Organization": map[string]any{"name": "acme"}}}}}},
		{"Patient", "_has:Observation:patient:code=x", map[string]any{"_has": map[string]any{"Observation": map[string]any{"patient": map[string]any{"code": "x"}}}}},
		{"Patient", "_has:Observation:patient:code:text=x", map[string]any{"_has": map[string]any{"Observation": map[string]any{"patient": map[string]any{"code": map[string]any{"text": "x"}}}}}},
		{"Patient", "_has:Observation:patient:_has:Provenance:target:agent=Practitioner/1", map[string]any{"_has": map[string]any{"Observation": map[string]any{"patient": map[string]any{
			"_has": map[string]any{"Provenance": map[string]any{"target": map[string]any{"agent": "Practitioner/1"}}}}}}}},
		{"Patient", "_has:Observation:patient:code=x&_has:Observation:patient:status=final", map[string]any{"_has": []any{
			map[string]any{"Observation": map[string]any{"patient": map[string]any{"code": "x"}}},
			map[string]any{"Observation": map[string]any{"patient": map[string]any{"status": "final"}}},
		}}},
		{"Patient", "_sort=-birthdate,name&_count=5&_offset=10&_total=accurate", map[string]any{"_sort": "-birthdate,name", "_count": "5", "_offset": "10", "_total": "accurate"}},
		{"Patient", "_id=a,b&_lastUpdated=gt2020-01-01", map[string]any{"_id": []any{"a", "b"}, "_lastUpdated": "gt2020-01-01"}},
		{"Patient", "_include=Patient:organization&_revinclude:iterate=Observation:patient&_summary=true&_elements=id&_format=json&_pretty=true&_contained=true&_containedType=container",
			map[string]any{}},
		{"Patient", "name=&gender=male", map[string]any{"gender": "male"}},
	} {
		vals, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		got, err := urlArgs(tc.typ, vals)
		if err != nil {
			t.Errorf("%s?%s: %v", tc.typ, tc.query, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s?%s:\n got %#v\nwant %#v", tc.typ, tc.query, got, tc.want)
		}
		if _, err := ParseURL(tc.typ, vals); err != nil {
			t.Errorf("ParseURL %s?%s: %v", tc.typ, tc.query, err)
		}
	}
}

func TestParseURLErrors(t *testing.T) {
	for _, tc := range []struct {
		typ, query string
		want       error
		mention    string
	}{
		{"Patient", "nosuch=1", ErrInvalid, "nosuch"},
		{"Patient", "name:nosuch=1", ErrInvalid, "nosuch"},
		{"Patient", "name:=1", ErrInvalid, "name"},
		{"Patient", "birthdate:gt=2020", ErrInvalid, "gt"},
		{"Patient", "name:value=x", ErrInvalid, "value"},
		{"Patient", "birthdate=notadate", ErrInvalid, "birthdate"},
		{"Patient", "gender:exact=x", ErrInvalid, "gender"},
		{"Patient", "name=a,,b", ErrInvalid, "name"},
		{"Patient", "_count=abc", ErrInvalid, "_count"},
		{"Patient", "_count=-1", ErrInvalid, "_count"},
		{"Patient", "_count=1&_count=2", ErrInvalid, "_count"},
		{"Patient", "_sort=nosuch", ErrInvalid, "nosuch"},
		{"Patient", "_total=maybe", ErrInvalid, "_total"},
		{"Patient", "_filter=name eq x", ErrUnsupported, "_filter"},
		{"Patient", "fhirpath=true", ErrInvalid, "fhirpath"},
		{"Observation", "subject.name=x", ErrInvalid, "subject:"},
		{"Observation", "subject:Nosuch.name=x", ErrInvalid, "subject"},
		{"Observation", "subject:Patient.nosuch=x", ErrInvalid, "nosuch"},
		{"Observation", "subject:Patient.=x", ErrInvalid, "subject"},
		{"Observation", "status.name=x", ErrInvalid, "status"},
		{"Observation", "subject:Medication=x", ErrInvalid, "subject"},
		{"Patient", "_has=x", ErrInvalid, "_has"},
		{"Patient", "_has:Observation:patient=x", ErrInvalid, "_has"},
		{"Patient", "_has:Nosuch:patient:code=x", ErrInvalid, "Nosuch"},
		{"Patient", "_has:Observation:status:code=x", ErrInvalid, "status"},
		{"Patient", "_has:Observation:patient:nosuch=x", ErrInvalid, "nosuch"},
		{"Patient", "_has:Observation:patient:" + strings.Repeat("_has:Observation:patient:", 10) + "code=x", ErrInvalid, "levels"},
		{"Patient", "organization." + strings.Repeat("partof.", 10) + "name=x", ErrInvalid, "levels"},
		{"Nosuch", "name=x", ErrInvalid, "Nosuch"},
	} {
		vals, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ParseURL(tc.typ, vals)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s?%s: got %v, want %v", tc.typ, tc.query, err, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%s?%s: %q does not name %q", tc.typ, tc.query, err, tc.mention)
		}
	}
}

func TestParseCriteria(t *testing.T) {
	typ, q, err := ParseCriteria("Observation?code=http://loinc.org|4548-4&subject=Patient/123")
	if err != nil || typ != "Observation" || q.Type != "Observation" || len(q.root.and) != 2 {
		t.Fatalf("got %q %+v %v", typ, q, err)
	}
	if typ, q, err := ParseCriteria("Patient"); err != nil || typ != "Patient" || len(q.root.and) != 0 {
		t.Fatalf("bare type: %q %v %v", typ, q, err)
	}
	for _, bad := range []string{"", "?name=x", "patient?name=x", "Patient?name=%zz", "Patient?nosuch=1", "Nosuch?name=x"} {
		if _, _, err := ParseCriteria(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseCriteria(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

// TestParseURLSearches runs URL searches against stored resources: the semantics of OR,
// repeated AND, chains and repeated _has as the URL syntax defines them.
func TestParseURLSearches(t *testing.T) {
	s := newStore(t)
	put(t, s,
		`{"resourceType":"Organization","id":"o1","name":"Acme, Inc"}`,
		`{"resourceType":"Patient","id":"p1","name":[{"family":"Smith","given":["Ann"]}],"birthDate":"1970-05-01","managingOrganization":{"reference":"Organization/o1"}}`,
		`{"resourceType":"Patient","id":"p2","name":[{"family":"Jones"}],"birthDate":"1985-01-01"}`,
		`{"resourceType":"Patient","id":"p3","name":[{"family":"Smithers"}],"birthDate":"1990-01-01"}`,
		`{"resourceType":"Observation","id":"a","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"1"}]},"subject":{"reference":"Patient/p1"}}`,
		`{"resourceType":"Observation","id":"b","status":"preliminary","code":{"coding":[{"system":"http://loinc.org","code":"2"}]},"subject":{"reference":"Patient/p1"}}`,
		`{"resourceType":"Observation","id":"c","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2"}]},"subject":{"reference":"Patient/p2"}}`,
	)
	r := &Runner{Store: s, ListLimit: 1000, PageSize: 20}
	for _, tc := range []struct{ typ, query, want string }{
		{"Patient", "name=smith", "p1,p3"},
		{"Patient", "name:exact=Smith", "p1"},
		{"Patient", "name=jones,smithers", "p2,p3"},
		{"Patient", "name=smith&birthdate=ge1980", "p3"},
		{"Patient", "birthdate=ge1970&birthdate=lt1986", "p1,p2"},
		{"Patient", "_id=p1,p2&_id=p2,p3", "p2"},
		{"Patient", "organization.name=acme", "p1"},
		{"Organization", `name:exact=Acme\, Inc`, "o1"},
		{"Observation", "subject:Patient.name=jones", "c"},
		{"Observation", "patient.birthdate=lt1980&status=final", "a"},
		{"Observation", "code=http://loinc.org|2&status:not=final", "b"},
		// Two reverse chains, each satisfied by its own Observation.
		{"Patient", "_has:Observation:patient:code=1&_has:Observation:patient:status=preliminary", "p1"},
		{"Patient", "_has:Observation:patient:code=2&_has:Observation:patient:status=final", "p1,p2"},
		{"Patient", "_has:Observation:patient:code=1&_has:Observation:patient:code=2", "p1"},
		{"Patient", "_sort=-birthdate&_count=2", "p3,p2"},
	} {
		vals, _ := url.ParseQuery(tc.query)
		q, err := ParseURL(tc.typ, vals)
		if err != nil {
			t.Errorf("%s?%s: %v", tc.typ, tc.query, err)
			continue
		}
		recs, err := r.List(context.Background(), q)
		if err != nil {
			t.Errorf("%s?%s: %v", tc.typ, tc.query, err)
			continue
		}
		var got []string
		for _, rec := range recs {
			got = append(got, rec.ID)
		}
		if len(q.Sort) == 0 {
			sort.Strings(got)
		}
		if join(got) != tc.want {
			t.Errorf("%s?%s = %s, want %s", tc.typ, tc.query, join(got), tc.want)
		}
	}
}

// FuzzParseURL: no query string makes ParseURL (or the filter it builds) panic, and every
// refusal is a client error of a known kind.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"name=smith", `name=a\,b,c\`, "subject:Patient.name:exact=x", "patient.organization.name=a",
		"_has:Observation:patient:code:not=x", "_sort=-date,name&_count=3", "date=ge2020&date=lt2021",
		"code-value-quantity=http://loinc.org|1$gt5", "_has:Observation:patient:_has:X:y:z=1", "a.b.c:d.e=%00",
	} {
		f.Add("Observation", s)
		f.Add("Patient", s)
	}
	f.Fuzz(func(t *testing.T, typ, query string) {
		vals, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		q, err := ParseURL(typ, vals)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("%s?%s: unexpected error kind %v", typ, query, err)
			}
			return
		}
		if _, err := q.Filter(context.Background(), noFinder{}); err != nil && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnsupported) {
			t.Fatalf("%s?%s: filter: %v", typ, query, err)
		}
	})
}

// noFinder answers every sub-search with no match: the fuzz test checks that filters build,
// not what they find.
type noFinder struct{}

func (noFinder) Find(context.Context, string, bson.D, string, int) ([]string, []string, error) {
	return nil, nil, nil
}
