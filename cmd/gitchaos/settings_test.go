package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitchaos/gitchaos/harness/target"
	"github.com/gitchaos/gitchaos/internal/gates"
)

// TestSettingsLimitsFailUpFront: settings out of the reference fetcher's
// limits (shards 300 among them, which once passed the CLI and failed only
// at "start target") are a usage error before anything starts, with the
// same words whichever way they came: a flag of gate, soak or matrix, a
// suite file, a Go test's options, or the reference fetcher's own flags.
func TestSettingsLimitsFailUpFront(t *testing.T) {
	const want = "shards 300: must be in 1..256"
	suite := filepath.Join(t.TempDir(), "suite.yaml")
	if err := os.WriteFile(suite, []byte("settings:\n  shards: 300\nscenarios:\n  - name: churn\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"gate", "--shards", "300"},
		{"gate", "-f", suite},
		{"soak", "--shards", "300"},
		{"matrix", "--shards", "300"},
		{"reffetcher", "--base-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--shards", "300"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, _, stderr := runCLI(t, args...)
			if code != exitUsage || !strings.Contains(stderr, want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, exitUsage, want)
			}
		})
	}
	st := gates.DefaultSettings()
	st.Shards = 300
	o := gates.Options{Targets: &target.URL{BaseURL: "http://127.0.0.1:1", Stated: gates.DefaultSettings()}, Settings: st}
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Options.Validate() = %v, want %q", err, want)
	}
	st = gates.DefaultSettings()
	st.MaxWorkers = 0
	code, _, stderr := runCLI(t, "gate", "--max-workers", "0")
	if err := st.Validate(); err == nil || code != exitUsage || !strings.Contains(stderr, err.Error()) {
		t.Errorf("--max-workers 0: exit %d, stderr %q; want the words of Settings.Validate (%v)", code, stderr, err)
	}
}
