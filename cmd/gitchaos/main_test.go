package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/gitchaos/gitchaos/harness/guard"
	"github.com/gitchaos/gitchaos/harness/testbed/toxiembed"
	"github.com/gitchaos/gitchaos/internal/race"
)

// TestMain lets the test binary act as the gitchaos binary (for targets
// the CLI starts as processes, e.g. "gitchaos reffetcher").
func TestMain(m *testing.M) {
	guard.MaybeRun() // exec targets of in-process gate runs get guards
	if os.Getenv("GITCHAOS_TEST_AS_MAIN") == "1" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	goleak.VerifyTestMain(m, toxiembed.UpstreamLeaks()...)
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsageErrorsExit2(t *testing.T) {
	suite := filepath.Join(t.TempDir(), "suite.yaml")
	if err := os.WriteFile(suite, []byte("scenarios:\n  - name: churn\n    params: {cyclez: 3}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"nope"}, `unknown command "nope"`},
		{[]string{"gate", "--only", "bogus"}, `unknown scenario "bogus"`},
		{[]string{"gate", "--mutant", "bogus"}, `--mutant: unknown mutant(s) bogus`},
		{[]string{"gate", "--target", "http://127.0.0.1:1", "--target-cmd", "x {addr}"}, "exclusive"},
		{[]string{"gate", "--target-pid", "12"}, "needs --target"},
		{[]string{"gate", "--target-base-dir", "/tmp"}, "needs --target"},
		{[]string{"gate", "--target", "http://127.0.0.1:1", "--target-base-dir", "/no/such/dir"}, "not a directory"},
		{[]string{"gate", "--mutant", "fd-leak-on-delete", "--target", "http://127.0.0.1:1"}, "cannot apply"},
		{[]string{"gate", "--target-cmd", "reffetcher --base-dir {base_dir}"}, "neither {addr} nor {port}"},
		{[]string{"gate", "--target-cmd", "/no/such/binary {addr}"}, "/no/such/binary"},
		{[]string{"gate", "--testbed", "cloud"}, `--testbed "cloud"`},
		{[]string{"gate", "--target-env", "NOEQUALS"}, `"NOEQUALS": want KEY=VALUE`},
		{[]string{"gate", "--target", "http://127.0.0.1:1", "--target-env", "A=1"}, "cannot set its environment"},
		{[]string{"gate", "--target-watch-dir", "/tmp"}, "--target-watch-dir needs --target"},
		{[]string{"gate", "--target", "http://127.0.0.1:1", "--target-watch-dir", "/no/such/dir"}, "not a directory"},
		{[]string{"gate", "--max-workers", "0"}, "max workers 0"},
		{[]string{"gate", "--scopes", "-1"}, "--scopes -1"},
		{[]string{"gate", "--max-cycles", "-1"}, "--max-cycles -1"},
		{[]string{"gate", "-f", suite}, `line 3: unknown key "cyclez"`},
		{[]string{"gate", "-f", "/no/such/suite.yaml"}, "no such file"},
		{[]string{"gate", "extra"}, `unexpected argument "extra"`},
		{[]string{"gate", "--bogus-flag"}, "bogus-flag"},
		{[]string{"matrix", "--mutants", "bogus"}, "unknown mutant"},
		{[]string{"matrix", "--parallel", "0"}, "--parallel 0: want at least 1"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, stderr := runCLI(t, tc.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q does not contain %q", stderr, tc.want)
			}
		})
	}
}

func TestGatePassesAndPrintsTable(t *testing.T) {
	skipGateRun(t)
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, "gate", "--only", "churn", "--out", out)
	if code != exitOK {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"SCENARIO", "MEASURED", "BUDGET", "caches drain to zero after delete", "PASS"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	// The scenario's verdict line streams before the final table.
	if i, j := strings.Index(stdout, "[1/1] PASS  churn: "), strings.Index(stdout, "SCENARIO"); i < 0 || j < i {
		t.Errorf("no streamed verdict line before the table:\n%s", stdout)
	}
	for _, f := range []string{"report.json", "report.html", "report.md", "report.xml"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("--out: %v", err)
		}
	}
}

func TestGateFailsOnMutantExit1(t *testing.T) {
	skipGateRun(t)
	code, stdout, stderr := runCLI(t, "gate", "--only", "churn", "--mutant", "fd-leak-on-delete")
	if code != exitFail {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "FAIL") || !strings.Contains(stdout, "fds flat across churn cycles") {
		t.Errorf("table does not show the failing fd gate:\n%s", stdout)
	}
}

func TestGateAgainstTargetCmd(t *testing.T) {
	if race.Enabled {
		t.Skip("-race: the process target is this test binary, built with the race detector, whose shadow memory grows the RSS every cycle without a leak (the plain test run judges it)")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GITCHAOS_TEST_AS_MAIN", "1")
	tmpl := "'" + exe + "' reffetcher --listen {addr} --base-dir {base_dir}"
	code, stdout, stderr := runCLI(t, "gate", "--only", "churn,crash-restart", "--target-cmd", tmpl)
	if code != exitOK {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if strings.Contains(stdout, "SKIP") {
		t.Errorf("a check was skipped against a process target:\n%s", stdout)
	}
}

// skipGateRun skips a test that runs gates end to end under -short: the
// race step of make test runs the CLI's other tests with -short, and the
// plain step runs these.
func skipGateRun(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: runs gates end to end (make test runs it without -short)")
	}
}
