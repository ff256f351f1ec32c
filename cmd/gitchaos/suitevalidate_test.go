package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSuiteBadParamFailsBeforeAnything: a suite file whose second gate
// (churn) has a bad param exits 2 at once, naming the gate, field and
// value, before boot (the first gate) starts: nothing on stdout (not even
// the run's header), within a second. --dry-run reports the same error.
func TestSuiteBadParamFailsBeforeAnything(t *testing.T) {
	suite := filepath.Join(t.TempDir(), "suite.yaml")
	if err := os.WriteFile(suite, []byte("scenarios:\n  - name: boot\n  - name: churn\n    params: {cycles: 5, scopes: 0}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := "gitchaos gate: churn: cycles 5: want >= 11 (3 warm-up, 3 floor, 5 judged)\nchurn: scopes 0: want >= 1\n"
	for _, args := range [][]string{{"gate", "-f", suite}, {"gate", "-f", suite, "--dry-run"}} {
		t0 := time.Now()
		code, stdout, stderr := runCLI(t, args...)
		if took := time.Since(t0); code != exitUsage || stdout != "" || stderr != want || took > time.Second {
			t.Errorf("%v: exit %d after %v\nstdout %q\nstderr %q\nwant exit %d within 1s, no stdout, stderr %q", args, code, took, stdout, stderr, exitUsage, want)
		}
	}
}
