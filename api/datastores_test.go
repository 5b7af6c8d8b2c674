package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/authz"
)

// TestDatastores creates, uses, isolates and deletes datastores through the admin API: data
// written under /ds/{name}/ stays there, the admin fields are the admin's alone, a token
// limited to datastores is refused elsewhere, and a deleted datastore is gone with its data.
func TestDatastores(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{}, func(c *api.Config) { c.Catalog = client })
	admin := a.token(t, "admin", "")
	name := fmt.Sprintf("ds-%d", time.Now().UnixNano()%1e9)

	list := func() []string {
		t.Helper()
		r := a.postAs(admin, "", `{ datastores { name default } }`)
		if len(r.Errors) > 0 {
			t.Fatalf("datastores: %v", r.Errors)
		}
		var ds []struct {
			Name    string
			Default bool
		}
		json.Unmarshal(r.Data["datastores"], &ds)
		var names []string
		for _, d := range ds {
			names = append(names, d.Name)
			if d.Default != (d.Name == "default") {
				t.Errorf("datastore %s: default = %v", d.Name, d.Default)
			}
		}
		return names
	}

	if slices.Contains(list(), name) {
		t.Fatalf("%s listed before it was created", name)
	}
	// Unknown datastores are 404 and are not created by being addressed.
	if r := a.postAs(admin, "/ds/"+name+"/$graphql", `{ fhirVersion }`); r.Status != http.StatusNotFound {
		t.Fatalf("unknown datastore: status %d, want 404", r.Status)
	}
	if slices.Contains(list(), name) {
		t.Fatalf("addressing %s created it", name)
	}

	create := `mutation($n: String!) { datastoreCreate(name: $n) { name } }`
	if r := a.postAsVars(admin, "", create, map[string]any{"n": name}); len(r.Errors) > 0 {
		t.Fatalf("datastoreCreate: %v", r.Errors)
	}
	if !slices.Contains(list(), name) {
		t.Fatalf("%s not listed after it was created: %v", name, list())
	}
	for n, want := range map[string]string{name: "CONFLICT", "Bad_Name": "BAD_USER_INPUT", "9lives": "BAD_USER_INPUT", strings.Repeat("a", 33): "BAD_USER_INPUT"} {
		r := a.postAsVars(admin, "", create, map[string]any{"n": n})
		if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != want {
			t.Errorf("datastoreCreate(%q): %v, want one %s error", n, r.Errors, want)
		}
	}

	// A write in the new datastore is there, and not in the default one.
	patient := map[string]any{"resourceType": "Patient", "id": "ds-p1", "gender": "female"}
	w := a.postAsVars(admin, "/ds/"+name+"/$graphql", `mutation($r: PatientInput!) { PatientUpdate(id: "ds-p1", res: $r) { id } }`, map[string]any{"r": patient})
	if len(w.Errors) > 0 {
		t.Fatalf("write in %s: %v", name, w.Errors)
	}
	read := `{ Patient(id: "ds-p1") { gender } }`
	if r := a.postAs(admin, "/ds/"+name+"/$graphql", read); len(r.Errors) > 0 || !strings.Contains(string(r.Data["Patient"]), "female") {
		t.Errorf("read in %s: %s %v", name, r.Data["Patient"], r.Errors)
	}
	if r := a.postAs(admin, "", read); len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "NOT_FOUND" {
		t.Errorf("the default datastore sees %s's patient: %s %v", name, r.Data["Patient"], r.Errors)
	}
	// The instance-level endpoint and /fhir live under the prefix too.
	if r := a.postAs(admin, "/ds/"+name+"/Patient/ds-p1/$graphql", `{ gender }`); len(r.Errors) > 0 || !strings.Contains(string(r.Data["gender"]), "female") {
		t.Errorf("instance endpoint in %s: %s %v", name, r.Data["gender"], r.Errors)
	}
	if r := a.fhir(http.MethodGet, "/ds/"+name+"/fhir/ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/administrative-gender", admin, nil); r.Status != http.StatusOK {
		t.Errorf("/fhir in %s: status %d", name, r.Status)
	}

	// Only a role granted manage on Datastore administers them, under any prefix.
	for _, role := range []string{"clinician", "analyst", "partner"} {
		tok := a.token(t, role, "")
		for _, q := range []string{`{ datastores { name } }`, `mutation { datastoreDelete(name: "` + name + `") }`, `mutation { datastoreCreate(name: "other") { name } }`} {
			if r := a.postAs(tok, "", q); len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" {
				t.Errorf("%s: %s: %v, want FORBIDDEN", role, q, r.Errors)
			}
		}
	}

	// A token limited to the new datastore works there and nowhere else.
	limited, err := a.key.Sign(authz.TokenRequest{Subject: "tenant-user", Roles: []string{"clinician"}, Datastores: []string{name}, TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if r := a.postAs(limited, "/ds/"+name+"/$graphql", read); len(r.Errors) > 0 {
		t.Errorf("limited token in its datastore: %v", r.Errors)
	}
	for _, path := range []string{"", "/ds/default/$graphql"} {
		if r := a.postAs(limited, path, read); r.Status != http.StatusForbidden {
			t.Errorf("limited token at %q: status %d, want 403", path, r.Status)
		}
	}
	if r := a.fhir(http.MethodGet, "/fhir/ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/administrative-gender", limited, nil); r.Status != http.StatusForbidden {
		t.Errorf("limited token at /fhir: status %d, want 403", r.Status)
	}

	// The default datastore cannot be deleted; deleting the new one removes it and its data.
	if r := a.postAs(admin, "", `mutation { datastoreDelete(name: "default") }`); len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "BAD_USER_INPUT" {
		t.Errorf("deleting the default datastore: %v", r.Errors)
	}
	if r := a.postAs(admin, "", `mutation { datastoreDelete(name: "`+name+`") }`); len(r.Errors) > 0 || string(r.Data["datastoreDelete"]) != "true" {
		t.Fatalf("datastoreDelete: %s %v", r.Data["datastoreDelete"], r.Errors)
	}
	if slices.Contains(list(), name) {
		t.Errorf("%s listed after it was deleted", name)
	}
	if r := a.postAs(admin, "/ds/"+name+"/$graphql", read); r.Status != http.StatusNotFound {
		t.Errorf("deleted datastore: status %d, want 404", r.Status)
	}
	if r := a.postAs(admin, "", `mutation { datastoreDelete(name: "`+name+`") }`); len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "NOT_FOUND" {
		t.Errorf("deleting it again: %v", r.Errors)
	}
	// Created again, it is empty.
	if r := a.postAsVars(admin, "", create, map[string]any{"n": name}); len(r.Errors) > 0 {
		t.Fatalf("datastoreCreate again: %v", r.Errors)
	}
	if r := a.postAs(admin, "/ds/"+name+"/$graphql", read); len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "NOT_FOUND" {
		t.Errorf("re-created datastore holds the old data: %s %v", r.Data["Patient"], r.Errors)
	}
	a.postAs(admin, "", `mutation { datastoreDelete(name: "`+name+`") }`)
}

// TestDatastoresOff: a server without a catalog serves one datastore and says so.
func TestDatastoresOff(t *testing.T) {
	e := newEnv(t)
	if r := e.post("", `{ datastores { name } }`, nil); len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "NOT_SUPPORTED" {
		t.Errorf("datastores without a catalog: %v", r.Errors)
	}
	if r := e.post("/ds/default/$graphql", `{ fhirVersion }`, nil); r.Status == http.StatusOK && len(r.Errors) == 0 {
		t.Errorf("/ds/ served without a catalog")
	}
}

// recordingWatcher records what it hears of datastores, and whether a datastore still existed
// when it heard that it was being deleted.
type recordingWatcher struct {
	mu     sync.Mutex
	events []string
}

func (w *recordingWatcher) Created(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.events = append(w.events, "created "+name)
}

func (w *recordingWatcher) Deleting(name string) {
	ok, err := client.HasDatastore(context.Background(), name)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.events = append(w.events, fmt.Sprintf("deleting %s (exists %v, %v)", name, ok, err))
}

// TestDatastoreWatcher: datastoreCreate and datastoreDelete tell the watcher (the FHIR
// Subscription fleet in the server), the delete before the datastore is dropped, so that its
// deliverer stops writing to it first.
func TestDatastoreWatcher(t *testing.T) {
	w := &recordingWatcher{}
	a := newAuthEnv(t, authz.VerifierConfig{}, func(c *api.Config) { c.Catalog = client; c.Subscriptions.Watcher = w })
	admin := a.token(t, "admin", "")
	name := fmt.Sprintf("dw-%d", time.Now().UnixNano()%1e9)
	if r := a.postAsVars(admin, "", `mutation($n: String!) { datastoreCreate(name: $n) { name } }`, map[string]any{"n": name}); len(r.Errors) > 0 {
		t.Fatalf("datastoreCreate: %v", r.Errors)
	}
	if r := a.postAs(admin, "", `mutation { datastoreDelete(name: "`+name+`") }`); len(r.Errors) > 0 {
		t.Fatalf("datastoreDelete: %v", r.Errors)
	}
	want := []string{"created " + name, "deleting " + name + " (exists true, <nil>)"}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !slices.Equal(w.events, want) {
		t.Errorf("the watcher heard %q; want %q", w.events, want)
	}
}
