package embedded

import (
	"bytes"
	"context"
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
