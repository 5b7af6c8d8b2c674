package api_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/fhirgate/fhirgate/authz"
)

// TestDeidentificationHolds replays, as an analyst, the ways an adversarial run recovered
// hidden values: searching, counting, sorting and paging by parameters whose index holds hidden
// elements, filter arguments on repeating elements, and FHIRPath names that reach hidden fields.
// Each must be refused, while the same request over visible elements answers.
func TestDeidentificationHolds(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{})
	var patients []string
	for i, city := range []string{"Lynn", "Boston", "Salem"} {
		patients = append(patients, fmt.Sprintf(`{"resourceType":"Patient","id":"p%d","gender":"female","birthDate":"19%d0-02-0%d","deceasedDateTime":"2020-01-0%d",
		  "address":[{"line":["%d Main St"],"city":%q,"postalCode":"0190%d","state":"MA","country":"US"}],
		  "generalPractitioner":[{"reference":"Practitioner/doc","display":"Dr Who %d"}],
		  "contact":[{"name":{"family":"Kin%d"}}]}`, i, 5+i, i+1, i+1, i, city, i, i, i))
	}
	a.put(append(patients, `{"resourceType":"Practitioner","id":"doc","name":[{"family":"Who"}]}`)...)
	analyst, admin := a.token(t, "analyst", ""), a.token(t, "admin", "")

	refused := []string{
		// Class 1: the address index holds line, city and postal code, not only state and country.
		`PatientList(_id: "p0", address: "Lynn") { id }`,
		`PatientConnection(address: "Lynn") { count }`,
		`PatientList(address_city: "Ly") { id }`,
		`PatientList(address_postalcode: {contains: "019"}) { id }`,
		`PatientList(address: {missing: false}) { id }`,
		`PatientList(general_practitioner: {identifier: "x|y"}) { id }`,
		`PatientList(_content: "Lynn") { id }`,
		`PatientList(_filter: {_text: "Lynn"}) { id }`,
		`PatientList(_has: {Observation: {subject: {_content: "x"}}}) { id }`,
		`ObservationList(subject: {Patient: {address: "Lynn"}}) { id }`,
		// Class 2: sorting reads the sort key.
		`PatientList(_sort: ["address"]) { id }`,
		`PatientConnection(_sort: ["-birthdate"]) { next }`,
		`PatientConnection(_sort: ["address_city"]) { edges { resource { id } } }`,
		// Class 3: filter arguments read the fields they name.
		`PatientList { address(city: "Lynn") { state } }`,
		`PatientList { address(postalCode: "01900") { state } }`,
		`PatientList { generalPractitioner(display: "Dr Who 0") { reference } }`,
		// Class 4: FHIRPath names resolve to typed elements, choices included.
		`PatientList(fhirpath: "birthDate = '1950-02-01'") { id }`,
		`PatientList(fhirpath: "birthDate.exists()") { id }`,
		`PatientList(gender: "female", deceased: "true") { id }`, // whether a death date is recorded
		`PatientList(fhirpath: "deceased.exists()") { id }`,
		`PatientList(fhirpath: "deceased.ofType(dateTime).exists()") { id }`,
		`PatientList(fhirpath: "(deceased as dateTime).exists()") { id }`,
		`PatientList(fhirpath: "address.where(city = 'Lynn').exists()") { id }`,
		`PatientList(fhirpath: "address.exists(postalCode = '01900')") { id }`,
		`PatientList(fhirpath: "address.where($this.line.exists()).exists()") { id }`,
		`PatientList(fhirpath: "%resource.contact.name.exists()") { id }`,
		`PatientList(fhirpath: "address = address") { id }`,
		`PatientList { address(fhirpath: "city = 'Lynn'") { state } }`,
		`PatientList { address(fhirpath: "$this = $this") { state } }`,
	}
	for _, q := range refused {
		r := a.postAs(analyst, "", "{ "+q+" }")
		if c := codes(r); len(c) == 0 || c[0] != "FORBIDDEN" && c[0] != "BAD_USER_INPUT" {
			t.Errorf("analyst: %s answered %s %v", q, dataString(r), c)
		}
		for _, secret := range []string{"Lynn", "0190", "Main St", "Dr Who", "Kin"} {
			if s := fmt.Sprint(dataString(r), r.Errors); strings.Contains(s, secret) {
				t.Errorf("analyst: %s leaked %q: %s", q, secret, s)
			}
		}
		if r := a.postAs(admin, "", "{ "+q+" }"); len(r.Errors) > 0 && !slices.Contains(codes(r), "NOT_SUPPORTED") {
			t.Errorf("admin: %s refused: %v", q, r.Errors)
		}
	}
	// "birth" and "postal" are no elements: the engine no longer widens them into birthDate.
	for _, q := range []string{`PatientList(fhirpath: "birth.exists()") { id }`, `PatientList { address(fhirpath: "postal.exists()") { state } }`} {
		if c := codes(a.postAs(admin, "", "{ "+q+" }")); len(c) == 0 || slices.ContainsFunc(c, func(c string) bool { return c != "BAD_USER_INPUT" }) {
			t.Errorf("admin: %s answered %v, want BAD_USER_INPUT", q, c)
		}
	}

	allowed := []string{
		`PatientList(address_state: "MA") { id }`,
		`PatientList(address_country: "US", _sort: ["gender"]) { id }`,
		`PatientList(general_practitioner: "Practitioner/doc") { id }`,
		`PatientList { address(state: "MA") { state } }`,
		`PatientList(fhirpath: "address.where(state = 'MA').exists() and gender = 'female'") { id }`,
		`PatientList(fhirpath: "deceased.ofType(boolean).exists().not()") { id }`,
	}
	for _, q := range allowed {
		r := a.postAs(analyst, "", "{ "+q+" }")
		if len(r.Errors) > 0 || !strings.Contains(dataString(r), `"p`) && !strings.Contains(dataString(r), "MA") {
			t.Errorf("analyst: %s refused: %s %v", q, dataString(r), r.Errors)
		}
	}
	if r := a.postAs(analyst, "", `{ PatientList(address_state: "MA") { id } }`); strings.Count(dataString(r), `"id"`) != 3 {
		t.Errorf("analyst's search by state: %s", dataString(r))
	}
}

// TestCursorsAreOpaque: a connection's cursors carry the sort keys of the resources they
// name, so they are sealed: nothing readable inside, and a cursor altered is refused.
func TestCursorsAreOpaque(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{})
	a.put(
		`{"resourceType":"Patient","id":"c1","gender":"female","birthDate":"1961-07-03","address":[{"postalCode":"01609","city":"Worcester"}]}`,
		`{"resourceType":"Patient","id":"c2","gender":"male","birthDate":"1972-08-04","address":[{"postalCode":"02110","city":"Boston"}]}`,
		`{"resourceType":"Patient","id":"c3","gender":"other","birthDate":"1983-09-05","address":[{"postalCode":"01901","city":"Lynn"}]}`,
	)
	admin := a.token(t, "admin", "")
	q := `{ PatientConnection(_sort: ["address_postalcode", "birthdate"], _count: 1) { next last first edges { resource { id } } } }`
	r := a.postAs(admin, "", q)
	var conn struct {
		PatientConnection struct {
			Next, Last, First string
			Edges             []struct{ Resource struct{ ID string } }
		}
	}
	if err := json.Unmarshal(mustJSON(t, r.Data), &conn); err != nil || len(r.Errors) > 0 {
		t.Fatalf("%v %v", err, r.Errors)
	}
	c := conn.PatientConnection
	if len(c.Edges) != 1 || c.Edges[0].Resource.ID != "c1" || c.Next == "" {
		t.Fatalf("first page: %+v", c)
	}
	for _, cur := range []string{c.Next, c.Last, c.First} {
		raw, _ := base64.RawURLEncoding.DecodeString(cur)
		for _, secret := range []string{"01609", "1961", "after", `"k"`} {
			if strings.Contains(string(raw), secret) || strings.Contains(cur, secret) {
				t.Errorf("cursor %q holds %q", cur, secret)
			}
		}
	}
	// The next page follows; the same cursor with one byte changed is refused.
	next := a.postAs(admin, "", strings.Replace(q, "_count: 1)", fmt.Sprintf("_count: 1, _cursor: %q)", c.Next), 1))
	if !strings.Contains(dataString(next), `"c3"`) || len(next.Errors) > 0 {
		t.Errorf("next page: %s %v", dataString(next), next.Errors)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(c.Next)
	raw[len(raw)/2] ^= 1
	forged := a.postAs(admin, "", strings.Replace(q, "_count: 1)", fmt.Sprintf("_count: 1, _cursor: %q)", base64.RawURLEncoding.EncodeToString(raw)), 1))
	if cs := codes(forged); len(cs) != 1 || cs[0] != "BAD_USER_INPUT" {
		t.Errorf("altered cursor: %v", cs)
	}
}

func mustJSON(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
