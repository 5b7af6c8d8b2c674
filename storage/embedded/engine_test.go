package embedded

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestFailedCommandsLeaveNoContentInLogs: FerretDB logs the response to every failed command
// at warning level, and a response can quote what the request carried. None of it may reach
// the application's logs; the engine's other warnings still do.
func TestFailedCommandsLeaveNoContentInLogs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	e := New(t.TempDir())
	uri, err := e.Start(ctx, log)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Stop()
	mc, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Disconnect(ctx)

	const secret = "Chalmers-Peter-1974-12-25"
	db := mc.Database("logs")
	for _, cmd := range []bson.D{
		{{Key: "fhirgateNoSuchCommand", Value: secret}},
		{{Key: "find", Value: "Patient"}, {Key: "filter", Value: secret}},
		{{Key: "insert", Value: secret}, {Key: "documents", Value: secret}},
	} {
		if err := db.RunCommand(ctx, cmd).Err(); err == nil {
			t.Fatalf("%v succeeded; the test needs a failing command", cmd)
		}
	}
	if strings.Contains(logs.String(), secret) || strings.Contains(logs.String(), "message:") {
		t.Errorf("the engine's logs carry request contents:\n%s", logs.String())
	}

	// The filter drops wire dumps only.
	logs.Reset()
	h := engineLogHandler{min: slog.LevelWarn, next: log.Handler()}
	slog.New(h).Warn("Response message:\n{" + secret + "}")
	slog.New(h).Info("below the minimum")
	slog.New(h).Warn("disk almost full")
	if got := logs.String(); strings.Contains(got, secret) || strings.Contains(got, "below the minimum") || !strings.Contains(got, "disk almost full") {
		t.Errorf("engineLogHandler passed on:\n%s\nwant only the warning that is not a wire dump", got)
	}
}

// TestIndexSearchFillsAndFollows: the index table IndexSearch creates over a collection that
// already holds documents is filled from their ij fields, and its triggers then follow every
// insert, replace and delete; each row carries its document's _id and its position in ij.
func TestIndexSearchFillsAndFollows(t *testing.T) {
	ctx, e, mc := startEngine(t)
	coll := mc.Database("ix").Collection("Patient")
	doc := func(id, ij string) bson.D {
		return bson.D{{Key: "_id", Value: id}, {Key: "json", Value: `{"a":"b"}`}, {Key: IndexField, Value: ij}}
	}
	if _, err := coll.InsertOne(ctx, doc("a", `[["gender","c","female",null,null,null,null],["birthdate",null,null,null,10,20,10]]`)); err != nil {
		t.Fatal(err)
	}
	rows := func() []string {
		var out []string
		err := e.QueryIndex(ctx, "ix", "Patient", "SELECT id, n, p, f, k, lo, hi, o FROM {{ix}} ORDER BY id, n", nil, func(r *sql.Rows) error {
			var id, p string
			var n int
			var f, k, lo, hi, o any
			if err := r.Scan(&id, &n, &p, &f, &k, &lo, &hi, &o); err != nil {
				return err
			}
			out = append(out, strings.TrimSpace(fmt.Sprintln(id, n, p, f, k, lo, hi, o)))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if err := e.IndexSearch(ctx, "ix", "Patient"); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(rows(), "; "), "a 0 gender c female <nil> <nil> <nil>; a 1 birthdate <nil> <nil> 10 20 10"; got != want {
		t.Errorf("backfilled rows: %s, want %s", got, want)
	}
	if _, err := coll.InsertOne(ctx, doc("b", `[["gender","c","male",null,null,null,"male"]]`)); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: "a"}}, doc("a", `[["gender","c","other",null,null,null,null]]`)); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(rows(), "; "), "a 0 gender c other <nil> <nil> <nil>; b 0 gender c male <nil> <nil> male"; got != want {
		t.Errorf("rows after an insert and a replace: %s, want %s", got, want)
	}
	if _, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: "b"}}); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(rows(), "; "), "a 0 gender c other <nil> <nil> <nil>"; got != want {
		t.Errorf("rows after a delete: %s, want %s", got, want)
	}
}

// startEngine starts an engine on a temporary directory and connects a driver client to it;
// both stop when the test ends, as does the minute ctx allows for its work.
func startEngine(t *testing.T) (context.Context, *Engine, *mongo.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	e := New(t.TempDir())
	uri, err := e.Start(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Stop() })
	mc, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mc.Disconnect(context.Background()) })
	return ctx, e, mc
}
