package bundle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
)

const (
	npiSystem = "http://hl7.org/fhir/sid/us-npi"
	patientJ  = `{"resourceType":"Patient","name":[{"family":"Chalmers"}]}`
)

func observation(subject string) string {
	return `{"resourceType":"Observation","status":"final","code":{"text":"heart rate"},"subject":{"reference":"` + subject + `"}}`
}

func practitioner(npi string) string {
	return `{"resourceType":"Practitioner","identifier":[{"system":"` + npiSystem + `","value":"` + npi + `"}],"name":[{"family":"Doc` + npi + `"}]}`
}

func encounter(subject, participant string) string {
	return `{"resourceType":"Encounter","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},` +
		`"subject":{"reference":"` + subject + `"},"participant":[{"individual":{"reference":"` + participant + `"}}]}`
}

// TestTransactionResolvesReferences: urn:uuid fullUrls in references, attachment urls and
// narrative links become the ids the server assigns, and a conditional reference becomes the
// one resource it matches.
func TestTransactionResolvesReferences(t *testing.T) {
	s := newStore(t)
	p := &Processor{Store: s, Reads: storeReader{s}}
	seed := mustRun(t, p, txBundle("transaction", post("urn:uuid:doc", practitioner("111"))))
	_, docID := location(t, seed.Entry[0])

	patient := `{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><a href=\"urn:uuid:obs\">latest</a></div>"},"name":[{"family":"Chalmers"}]}`
	docRef := `{"resourceType":"DocumentReference","status":"current","subject":{"reference":"urn:uuid:pat"},"content":[{"attachment":{"contentType":"text/plain","url":"urn:uuid:bin"}}]}`
	out := mustRun(t, p, txBundle("transaction",
		post("urn:uuid:obs", observation("urn:uuid:pat")),
		post("urn:uuid:pat", patient),
		post("urn:uuid:enc", encounter("urn:uuid:pat", "Practitioner?identifier="+npiSystem+"|111")),
		post("urn:uuid:bin", `{"resourceType":"Binary","contentType":"text/plain","data":"aGVsbG8="}`),
		post("urn:uuid:dr", docRef),
	))
	ids := map[string]string{}
	for i, name := range []string{"obs", "pat", "enc", "bin", "dr"} {
		if got := *out.Entry[i].Response.Status; got != "201 Created" {
			t.Fatalf("entry %d: status %q, want 201 Created", i, got)
		}
		_, ids[name] = location(t, out.Entry[i])
	}

	obs := readJSON(t, s, "Observation", ids["obs"])
	if got := obs["subject"].(map[string]any)["reference"]; got != "Patient/"+ids["pat"] {
		t.Errorf("Observation.subject = %v, want Patient/%s", got, ids["pat"])
	}
	enc := readJSON(t, s, "Encounter", ids["enc"])
	ind := enc["participant"].([]any)[0].(map[string]any)["individual"].(map[string]any)["reference"]
	if ind != "Practitioner/"+docID {
		t.Errorf("Encounter.participant.individual = %v, want Practitioner/%s (conditional reference)", ind, docID)
	}
	dr := readJSON(t, s, "DocumentReference", ids["dr"])
	url := dr["content"].([]any)[0].(map[string]any)["attachment"].(map[string]any)["url"]
	if url != "Binary/"+ids["bin"] {
		t.Errorf("attachment url = %v, want Binary/%s", url, ids["bin"])
	}
	pat := readJSON(t, s, "Patient", ids["pat"])
	if div := pat["text"].(map[string]any)["div"].(string); !strings.Contains(div, `href="Observation/`+ids["obs"]+`"`) {
		t.Errorf("narrative %s does not link to Observation/%s", div, ids["obs"])
	}
	// One commit: every version in one change.
	ch, err := s.Changes(context.Background(), 0, 100)
	if err != nil || len(ch) != 2 || len(ch[1].Entries) != 5 {
		t.Fatalf("feed: %d changes (%v), want the seed and one change of 5 writes", len(ch), err)
	}
}

// TestTransactionFailingEntryRollsBack runs, for each way an entry can fail a transaction,
// a bundle whose entry 2 fails that way between valid entries: the transaction fails naming
// entry 2 and its fullUrl, and nothing of it is stored or in the change feed.
func TestTransactionFailingEntryRollsBack(t *testing.T) {
	s := newStore(t)
	p := &Processor{Store: s, Reads: storeReader{s}}
	seed := mustRun(t, p, txBundle("transaction",
		post("urn:uuid:a", practitioner("222")), post("urn:uuid:b", practitioner("222")), post("urn:uuid:p", patientJ)))
	_, patID := location(t, seed.Entry[2])
	head := feedHead(t, s)

	cases := []struct {
		name  string
		entry string
		kind  error
		code  int
	}{
		{"invalid resource", post("urn:uuid:bad", `{"resourceType":"Patient","gender":"robot"}`), fault.Invalid, 400},
		{"unknown element", post("urn:uuid:bad", `{"resourceType":"Patient","colour":"blue"}`), fault.Invalid, 400},
		{"reference to no entry", post("urn:uuid:bad", observation("urn:uuid:nowhere")), fault.Invalid, 400},
		{"conditional reference matching nothing", post("urn:uuid:bad", encounter("Patient/"+patID, "Practitioner?identifier="+npiSystem+"|999")), fault.NotFound, 404},
		{"conditional reference matching two", post("urn:uuid:bad", encounter("Patient/"+patID, "Practitioner?identifier="+npiSystem+"|222")), fault.Conflict, 412},
		{"stale ifMatch", put("Patient/"+patID, patientJ, `"ifMatch":"W/\"7\""`), fault.Conflict, 412},
		{"conditional update matching two", put("Practitioner?identifier="+npiSystem+"|222", practitioner("222")), fault.Conflict, 412},
		{"id not the url's", put("Patient/"+patID, `{"resourceType":"Patient","id":"other"}`), fault.Invalid, 400},
		{"resource not the url's type", `{"fullUrl":"urn:uuid:bad","resource":` + patientJ + `,"request":{"method":"POST","url":"Observation"}}`, fault.Invalid, 400},
		{"url without a type", `{"fullUrl":"urn:uuid:bad","resource":` + patientJ + `,"request":{"method":"POST","url":"metadata"}}`, fault.Invalid, 400},
		{"unknown method", `{"fullUrl":"urn:uuid:bad","request":{"method":"TRACE","url":"Patient"}}`, fault.Invalid, 400},
		{"duplicate fullUrl", post("urn:uuid:x1", patientJ), fault.Invalid, 400},
		{"same resource twice", put("Patient/same", patientJ), fault.Invalid, 400},
		{"unsearchable condition", put("Patient?colour=blue", patientJ), fault.Invalid, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			first := post("urn:uuid:x1", observation("urn:uuid:x2"))
			second := post("urn:uuid:x2", patientJ)
			if c.name == "same resource twice" {
				second = put("Patient/same", patientJ)
			}
			_, err := run(t, p, txBundle("transaction", first, second, c.entry, put("Patient/after", patientJ)))
			var ee *EntryError
			if !errors.As(err, &ee) {
				t.Fatalf("got %v, want an *EntryError", err)
			}
			if ee.Index != 2 || !errors.Is(err, c.kind) || ee.Outcome.Status != c.code {
				t.Errorf("entry %d, status %d, error %v; want entry 2, status %d, kind %v", ee.Index, ee.Outcome.Status, err, c.code, c.kind)
			}
			if msg := ee.Message(); !strings.HasPrefix(msg, "Bundle.entry[2]") {
				t.Errorf("message %q does not name the entry", msg)
			}
			if strings.Contains(c.entry, `"fullUrl"`) && !strings.Contains(string(ee.Outcome.Outcome), "urn:uuid:") {
				t.Errorf("outcome %s does not name the fullUrl", ee.Outcome.Outcome)
			}
			if got := feedHead(t, s); got != head {
				t.Errorf("change feed moved from %d to %d: the failed transaction wrote something", head, got)
			}
			for _, id := range []string{"same", "after"} {
				if _, err := s.Read(context.Background(), "Patient", id); !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("Patient/%s: %v, want not found", id, err)
				}
			}
		})
	}
	t.Logf("%d ways to fail checked", len(cases))
}

// TestConditionalInteractions: ifNoneExist, conditional update and conditional delete.
func TestConditionalInteractions(t *testing.T) {
	s := newStore(t)
	p := &Processor{Store: s, Reads: storeReader{s}}
	ctx := context.Background()
	ifNone := `"ifNoneExist":"identifier=` + npiSystem + `|333"`

	first := mustRun(t, p, txBundle("transaction", post("urn:uuid:d", practitioner("333"), ifNone)))
	second := mustRun(t, p, txBundle("transaction", post("urn:uuid:d", practitioner("333"), ifNone)))
	_, id1 := location(t, first.Entry[0])
	_, id2 := location(t, second.Entry[0])
	if *first.Entry[0].Response.Status != "201 Created" || *second.Entry[0].Response.Status != "200 OK" || id1 != id2 {
		t.Errorf("ifNoneExist: %s %s then %s %s; want 201 then 200 for the same resource",
			*first.Entry[0].Response.Status, id1, *second.Entry[0].Response.Status, id2)
	}

	cond := "Practitioner?identifier=" + npiSystem + "|333"
	upd := mustRun(t, p, txBundle("transaction", put(cond, strings.Replace(practitioner("333"), "Doc333", "Renamed", 1))))
	if _, id := location(t, upd.Entry[0]); id != id1 || *upd.Entry[0].Response.Etag != `W/"2"` {
		t.Errorf("conditional update wrote %s %s, want %s version 2", id, *upd.Entry[0].Response.Etag, id1)
	}
	created := mustRun(t, p, txBundle("transaction", put("Practitioner?identifier="+npiSystem+"|444", practitioner("444"))))
	if *created.Entry[0].Response.Status != "201 Created" {
		t.Errorf("conditional update matching nothing: %s, want 201 Created", *created.Entry[0].Response.Status)
	}

	gone := mustRun(t, p, txBundle("transaction", del(cond), del("Practitioner?identifier="+npiSystem+"|555")))
	for i, e := range gone.Entry {
		if *e.Response.Status != "204 No Content" {
			t.Errorf("delete %d: %s, want 204 No Content", i, *e.Response.Status)
		}
	}
	if _, err := s.Read(ctx, "Practitioner", id1); !errors.Is(err, storage.ErrDeleted) {
		t.Errorf("after conditional delete: %v, want deleted", err)
	}
}

// TestTransactionReadsAfterWrites: GET entries see the transaction's writes, whatever their
// place in the bundle, and a search URL may name an entry by its fullUrl.
func TestTransactionReadsAfterWrites(t *testing.T) {
	s := newStore(t)
	var seen []string
	p := &Processor{Store: s, Reads: readerFunc(func(ctx context.Context, req Request) Response {
		seen = append(seen, req.URL)
		return storeReader{s}.Read(ctx, req)
	})}
	mustRun(t, p, txBundle("transaction", put("Patient/r1", patientJ)))
	out := mustRun(t, p, txBundle("transaction",
		get("Patient/r1"),
		put("Patient/r1", strings.Replace(patientJ, "Chalmers", "Read", 1)),
		get("Observation?subject=urn:uuid:o"),
		post("urn:uuid:o", patientJ),
	))
	if *out.Entry[0].Response.Etag != `W/"2"` || *out.Entry[0].Response.Status != "200 OK" {
		t.Errorf("GET before the PUT in the bundle saw %s, want version 2", *out.Entry[0].Response.Etag)
	}
	_, pid := location(t, out.Entry[3])
	if len(seen) != 2 || seen[1] != "Observation?subject=Patient%2F"+pid {
		t.Errorf("reads %q, want the search with the fullUrl resolved to Patient/%s", seen, pid)
	}
}

type readerFunc func(ctx context.Context, req Request) Response

func (f readerFunc) Read(ctx context.Context, req Request) Response { return f(ctx, req) }

// TestBatchEntriesIndependent: a batch's failing entries fail alone.
func TestBatchEntriesIndependent(t *testing.T) {
	s := newStore(t)
	p := &Processor{Store: s, Reads: storeReader{s}}
	out := mustRun(t, p, txBundle("batch",
		put("Patient/b1", patientJ),
		post("urn:uuid:x", `{"resourceType":"Patient","gender":"robot"}`),
		post("urn:uuid:y", observation("urn:uuid:b1")),
		put("Patient/b2", patientJ, `"ifMatch":"W/\"3\""`),
		get("Patient/b1"),
		get("Patient/none"),
		put("Patient/b3", patientJ),
	))
	want := []string{"201 Created", "400 Bad Request", "400 Bad Request", "412 Precondition Failed", "200 OK", "404 Not Found", "201 Created"}
	for i, e := range out.Entry {
		if got := *e.Response.Status; got != want[i] {
			t.Errorf("entry %d: %s, want %s", i, got, want[i])
		}
		if strings.HasPrefix(want[i], "4") && i != 5 && e.Response.Outcome == nil {
			t.Errorf("entry %d: failed without an outcome", i)
		}
	}
	for _, id := range []string{"b1", "b3"} {
		if _, err := s.Read(context.Background(), "Patient", id); err != nil {
			t.Errorf("Patient/%s: %v", id, err)
		}
	}
}

// TestEntryLimit: a bundle over the limit is refused before anything runs.
func TestEntryLimit(t *testing.T) {
	s := newStore(t)
	p := &Processor{Store: s, MaxEntries: 3}
	var entries []string
	for i := range 4 {
		entries = append(entries, put(fmt.Sprintf("Patient/l%d", i), patientJ))
	}
	_, err := run(t, p, txBundle("transaction", entries...))
	if !errors.Is(err, fault.TooMany) || !strings.Contains(err.Error(), "limit of 3") {
		t.Fatalf("4 entries over a limit of 3: %v, want too many", err)
	}
	mustRun(t, p, txBundle("transaction", entries[:3]...))
	if (&Processor{}).maxEntries() != 10_000 {
		t.Errorf("default limit %d, want 10,000", (&Processor{}).maxEntries())
	}
}

// denyPolicy refuses one action on one type.
type denyPolicy struct{ typ, act string }

func (d denyPolicy) CheckType(_ context.Context, typ, act string) error {
	if typ == d.typ && act == d.act {
		return fmt.Errorf("%w: %s %s", fault.New(fault.Forbidden, "forbidden"), act, typ)
	}
	return nil
}
func (denyPolicy) CheckSearch(context.Context, *search.Query) error { return nil }

// TestEntriesNeedTheirPermission: each entry is checked for its own interaction.
func TestEntriesNeedTheirPermission(t *testing.T) {
	s := newStore(t)
	for _, c := range []struct {
		deny  denyPolicy
		entry string
	}{
		{denyPolicy{"Observation", "create"}, post("urn:uuid:o", observation("Patient/x"))},
		{denyPolicy{"Patient", "update"}, put("Patient/p", patientJ)},
		{denyPolicy{"Patient", "delete"}, del("Patient/p")},
		{denyPolicy{"Practitioner", "search"}, put("Practitioner?identifier=a|b", practitioner("1"))},
	} {
		p := &Processor{Store: s, Policy: c.deny}
		_, err := run(t, p, txBundle("transaction", put("Practitioner/ok", practitioner("9")), c.entry))
		var ee *EntryError
		if !errors.As(err, &ee) || ee.Index != 1 || ee.Outcome.Status != 403 {
			t.Errorf("%s %s denied: %v, want entry 1 forbidden", c.deny.act, c.deny.typ, err)
		}
	}
}

// TestPreferReturn: what write entries return follows Prefer: return=.
func TestPreferReturn(t *testing.T) {
	s := newStore(t)
	p := &Processor{Store: s}
	for _, c := range []struct {
		ret               Return
		resource, outcome bool
	}{{ReturnRepresentation, true, false}, {ReturnMinimal, false, false}, {ReturnOutcome, false, true}} {
		out, err := p.Run(context.Background(), []byte(txBundle("transaction", put("Patient/r-"+string(c.ret), patientJ))), c.ret)
		if err != nil {
			t.Fatal(err)
		}
		e := out.Entry[0]
		if (e.Resource != nil) != c.resource || (e.Response.Outcome != nil) != c.outcome || e.Response.Location == nil {
			t.Errorf("return=%s: resource %v, outcome %v, location %v", c.ret, e.Resource != nil, e.Response.Outcome != nil, e.Response.Location)
		}
	}
}
