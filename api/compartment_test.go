package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/storage"
)

// TestPatientBoundWriterStaysInItsPatientsRecord replays issue 15's attack with a clinician
// token bound to pat-0001, through GraphQL: an Observation about pat-0002 is refused even
// when its performer is pat-0001, and nothing is written; one about pat-0001 is written.
func TestPatientBoundWriterStaysInItsPatientsRecord(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{})
	a.put(`{"resourceType":"Patient","id":"pat-0001"}`, `{"resourceType":"Patient","id":"pat-0002"}`,
		`{"resourceType":"Practitioner","id":"doc"}`)
	writer := a.token(t, "clinician", "pat-0001")
	observations := func() int64 {
		n, err := a.store.Count(context.Background(), "Observation", storage.Query{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	cases := []struct {
		name, res string
		want      string // extensions.code, "" for success
	}{
		{"issue 15: subject pat-0002, performer pat-0001",
			`subject: {reference: "Patient/pat-0002"}, performer: [{reference: "Patient/pat-0001"}]`, "FORBIDDEN"},
		{"subject pat-0001, performer pat-0002",
			`subject: {reference: "Patient/pat-0001"}, performer: [{reference: "Patient/pat-0002"}]`, "FORBIDDEN"},
		{"subject pat-0001, focus pat-0002",
			`subject: {reference: "Patient/pat-0001"}, focus: [{reference: "Patient/pat-0002"}]`, "FORBIDDEN"},
		{"performer pat-0001 only",
			`performer: [{reference: "Patient/pat-0001"}]`, "FORBIDDEN"},
		{"subject and performer pat-0001",
			`subject: {reference: "Patient/pat-0001"}, performer: [{reference: "Patient/pat-0001"}, {reference: "Practitioner/doc"}]`, ""},
	}
	for _, c := range cases {
		before := observations()
		r := a.postAs(writer, "", `mutation { ObservationCreate(res: {resourceType: "Observation", status: "final", code: {text: "hr"}, `+c.res+`}) { id subject { reference } } }`)
		got := strings.Join(codes(r), ",")
		after := observations()
		switch {
		case got != c.want:
			t.Errorf("%s: codes %q, want %q: %+v", c.name, got, c.want, r.Errors)
		case c.want != "" && (after != before || string(r.Data["ObservationCreate"]) != "null"):
			t.Errorf("%s: refused, yet %d observations from %d, data %s", c.name, after, before, r.Data["ObservationCreate"])
		case c.want == "" && after != before+1:
			t.Errorf("%s: accepted, yet %d observations from %d", c.name, after, before)
		}
		for _, e := range r.Errors {
			if has(e.Message, "pat-0002") {
				t.Errorf("%s: the refusal quotes the other patient: %q", c.name, e.Message)
			}
		}
	}
}

// TestPatientBoundWriterCannotProbeIds: for a clinician bound to pat-0001, updating or
// deleting an id that another patient's record uses answers exactly like an unused id (code,
// message, OperationOutcome, HTTP status), and neither call creates or changes anything.
func TestPatientBoundWriterCannotProbeIds(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{})
	a.put(`{"resourceType":"Patient","id":"pat-0001"}`, `{"resourceType":"Patient","id":"pat-0002"}`,
		`{"resourceType":"Observation","id":"obs-theirs","status":"final","code":{"text":"hr"},"subject":{"reference":"Patient/pat-0002"}}`,
		`{"resourceType":"Observation","id":"obs-gone","status":"final","code":{"text":"hr"},"subject":{"reference":"Patient/pat-0002"}}`,
		`{"resourceType":"Observation","id":"obs-mine","status":"final","code":{"text":"hr"},"subject":{"reference":"Patient/pat-0001"}}`)
	if _, err := a.store.Commit(context.Background(), []storage.Write{{Op: storage.OpDelete, Type: "Observation", ID: "obs-gone"}}); err != nil {
		t.Fatal(err)
	}
	writer := a.token(t, "clinician", "pat-0001")

	// Each mutation's answer with the id asked for replaced, as one comparable string.
	answer := func(query, id string) string {
		t.Helper()
		r := a.postAs(writer, "", strings.ReplaceAll(query, "ID", id))
		b, _ := json.Marshal(struct {
			Status int
			Data   map[string]json.RawMessage
			Errors []gqlError
		}{r.Status, r.Data, r.Errors})
		return strings.ReplaceAll(string(b), id, "<id>")
	}
	// The content is one the writer may write: only the id's existence could change the answer.
	mine := `{resourceType: "Observation", status: "final", code: {text: "x"}, subject: {reference: "Patient/pat-0001"}}`
	mutations := []string{
		`mutation { ObservationUpdate(id: "ID", res: ` + mine + `) { id } }`,
		`mutation { ObservationUpdate(id: "ID", res: ` + mine + `, ifMatch: "1") { id } }`,
		`mutation { ObservationUpdate(id: "ID", res: ` + mine + `, ifMatch: "W/\"7\"") { id } }`,
		`mutation { ObservationDelete(id: "ID") { issue { diagnostics } } }`,
	}
	for _, m := range mutations {
		want := answer(m, "obs-unused")
		t.Logf("%s: %s", m, want)
		if !has(want, `"code":"NOT_FOUND"`) || !has(want, `"Status":200`) {
			t.Errorf("%s on an unused id: %s", m, want)
		}
		for _, id := range []string{"obs-theirs", "obs-gone"} {
			if got := answer(m, id); got != want {
				t.Errorf("%s on %s:\n got %s\nwant %s (as for an unused id)", m, id, got, want)
			}
		}
		if has(want, "pat-0002") || has(want, "mongo") || has(want, "version") {
			t.Errorf("%s: the answer says too much: %s", m, want)
		}
	}
	// Nothing was created or changed.
	if _, err := a.store.Read(context.Background(), "Observation", "obs-unused"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("obs-unused after refused writes: %v", err)
	}
	if rec, err := a.store.Read(context.Background(), "Observation", "obs-theirs"); err != nil || rec.VersionID != 1 {
		t.Errorf("obs-theirs after refused writes: %v %v", rec, err)
	}
	if rec, err := a.store.Read(context.Background(), "Observation", "obs-gone"); !errors.Is(err, storage.ErrDeleted) || rec.VersionID != 2 {
		t.Errorf("obs-gone after refused writes: %v %v", rec, err)
	}
	// The writer's own resource: updated, then deleted, as usual; moving it to another
	// patient is refused, as the writer can see what it holds.
	r := a.postAs(writer, "", `mutation { ObservationUpdate(id: "obs-mine", res: {resourceType: "Observation", status: "final", code: {text: "x"}, subject: {reference: "Patient/pat-0002"}}) { id } }`)
	if fmt.Sprint(codes(r)) != "[FORBIDDEN]" {
		t.Errorf("moving own observation to pat-0002: %+v", r.Errors)
	}
	r = a.postAs(writer, "", strings.ReplaceAll(mutations[1], "ID", "obs-mine"))
	if len(r.Errors) > 0 {
		t.Errorf("update of own observation at version 1: %+v", r.Errors)
	}
	r = a.postAs(writer, "", strings.ReplaceAll(mutations[3], "ID", "obs-mine"))
	if len(r.Errors) > 0 {
		t.Errorf("delete of own observation: %+v", r.Errors)
	}
	if rec, err := a.store.Read(context.Background(), "Observation", "obs-mine"); !errors.Is(err, storage.ErrDeleted) || rec.VersionID != 3 {
		t.Errorf("obs-mine after update and delete: %v %v", rec, err)
	}
}
