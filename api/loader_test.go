package api_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"testing"
)

// TestMissingReferenceReadOnce: references named by several rows are read once per request, and
// so is a reference to nothing: the request's loader keeps a miss (its error) as well as a hit,
// so the rows' reference fields fail or resolve without reading again.
func TestMissingReferenceReadOnce(t *testing.T) {
	e := newEnv(t)
	obs := func(id, subject string) string {
		return fmt.Sprintf(`{"resourceType":"Observation","id":"%s","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/%s"}}`, id, subject)
	}
	e.put(`{"resourceType":"Patient","id":"here"}`, obs("o1", "gone"), obs("o2", "gone"), obs("o3", "here"), obs("o4", "here"))

	var resp *gqlResponse
	n, names := recordCommands(func() {
		resp = e.post("", `{ ObservationList { id subject { resource { ... on Patient { id } } } } }`, nil)
	})
	// The list, then one batch for both patients.
	if n != 2 {
		t.Errorf("%d storage commands %v, want 2: the list and one read of both patients", n, names)
	}
	var data struct {
		ObservationList []struct {
			ID      string
			Subject struct{ Resource *struct{ ID string } }
		}
	}
	if err := json.Unmarshal(resp.Data["ObservationList"], &data.ObservationList); err != nil {
		t.Fatal(err)
	}
	var resolved, failed []string
	for _, o := range data.ObservationList {
		if o.Subject.Resource != nil && o.Subject.Resource.ID == "here" {
			resolved = append(resolved, o.ID)
		}
	}
	for _, e := range resp.Errors {
		if len(e.Path) == 4 && e.Path[2] == "subject" && e.Path[3] == "resource" {
			i, err := strconv.Atoi(fmt.Sprint(e.Path[1]))
			if err != nil || i >= len(data.ObservationList) {
				t.Fatalf("error path %v", e.Path)
			}
			failed = append(failed, data.ObservationList[i].ID)
		}
	}
	slices.Sort(resolved)
	slices.Sort(failed)
	if !slices.Equal(resolved, []string{"o3", "o4"}) || !slices.Equal(failed, []string{"o1", "o2"}) || len(resp.Errors) != 2 {
		t.Errorf("resolved %v, failed %v (errors %+v), want o3 o4 resolved and o1 o2 failed", resolved, failed, resp.Errors)
	}
}
