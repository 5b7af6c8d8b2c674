//go:build unix

package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIGHUPReloadsPolicy: the policy file given with --policy is read again on SIGHUP, and a
// file that no longer parses leaves the previous policy in force.
func TestSIGHUPReloadsPolicy(t *testing.T) {
	def, err := os.ReadFile("authz/policy.csv")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "policy.csv")
	if err := os.WriteFile(file, def, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := parseConfig([]string{"fhirgate", "--data", t.TempDir(), "--policy", file}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := authSetup(ctx, cfg, slog.New(slog.NewJSONHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	policy := cfg.api.Auth.Policy
	if policy.Allows("analyst", "Patient.birthDate", "read") {
		t.Fatal("the default policy lets analysts read exact birth dates")
	}

	// hup rewrites the policy file, signals this process and waits for the reload's log line.
	hup := func(content, wantLog string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		before := strings.Count(logs.String(), wantLog)
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); strings.Count(logs.String(), wantLog) == before; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q after SIGHUP; logs:\n%s", wantLog, logs.String())
			}
		}
	}
	relaxed := strings.Replace(string(def), "{Patient,Person,RelatedPerson,Practitioner}.{birthDate,deceasedDateTime}", "{Person,RelatedPerson,Practitioner}.{birthDate,deceasedDateTime}", 1)
	if relaxed == string(def) {
		t.Fatal("the default policy no longer has the birth-date line this test edits")
	}
	hup(relaxed, `"msg":"policy reloaded"`)
	if !policy.Allows("analyst", "Patient.birthDate", "read") {
		t.Error("after SIGHUP with the relaxed policy, analysts still may not read Patient.birthDate")
	}
	hup("p, analyst, this line has too many, fields, allow, x\n", `"msg":"policy reload failed; the previous policy stays in force"`)
	if !policy.Allows("analyst", "Patient.birthDate", "read") || policy.Allows("analyst", "AuditEvent", "read") {
		t.Error("a policy file that does not parse changed the policy in force")
	}
}
