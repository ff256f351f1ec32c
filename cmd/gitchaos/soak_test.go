package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/internal/gates"
)

func TestSoakUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"soak", "--duration", "0s"}, "duration 0s: must be > 0"},
		{[]string{"soak", "--duration", "10s", "--window", "20s"}, "shorter than one window"},
		{[]string{"soak", "--duration", "10s", "--hosts", "5"}, "hosts 5"},
		{[]string{"soak", "--duration", "10s", "--only", "churn"}, "-only does not apply"},
		{[]string{"soak", "--duration", "10s", "--mutant", "bogus"}, `unknown mutant`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, stderr := runCLI(t, tc.args...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, exitUsage, tc.want)
			}
		})
	}
}

// TestSoakWritesReports: a short soak through the CLI exits 0 against the
// correct fetcher and writes the four reports, report.json being a soak run.
func TestSoakWritesReports(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, "soak", "--duration", "6s", "--window", "3s", "--seed", "5", "--out", out)
	if code != exitOK {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"soak: 0:0", "reports written to", "replay: gitchaos soak --duration 6s ", " --window 3s", " --seed 5 ", " --steps-per-window 35 ", " --git-timeout 1s "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	run, err := result.Load(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if run.Kind != "soak" || run.Seed != 5 || len(run.Scenarios) != 1 {
		t.Errorf("report.json: kind %q seed %d with %d scenarios, want one soak scenario of seed 5", run.Kind, run.Seed, len(run.Scenarios))
	}
	for _, f := range []string{"report.html", "report.md", "report.xml"} {
		if fi, err := os.Stat(filepath.Join(out, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: missing or empty (%v)", f, err)
		}
	}
}

func TestSoakProgressLine(t *testing.T) {
	var b bytes.Buffer
	p := &soakProgress{w: &b, term: true, live: liveLine{w: &b}}
	p.update(gates.SoakStatus{Elapsed: 90 * time.Second, Duration: time.Hour, Steps: 42, Windows: 1,
		Values: map[string]float64{"fds": 20, "rss_bytes": 64 << 20, "goroutines": 12}, Verdict: result.Pass})
	p.update(gates.SoakStatus{Elapsed: 2 * time.Hour, Duration: 8 * time.Hour, Steps: 4000, Windows: 120,
		Verdict: result.Fail, Failing: []string{"fds +1.02/window"}})
	var logs bytes.Buffer
	fmt.Fprint(p.logWriter(&logs), "a log line\n")
	if logs.String() != "a log line\n" || !strings.HasSuffix(b.String(), " \r2:00:00/8:00:00  25% | 4000 ops, 120 windows | FAIL so far: fds +1.02/window") {
		t.Errorf("a log line on a terminal should clear and redraw the progress line: progress %q, log %q", b.String(), logs.String())
	}
	p.done()
	got := b.String()
	for _, want := range []string{"\r1:30/1:00:00   2% | 42 ops, 1 windows | fds 20 rss 64 MiB goroutines 12 | pass so far",
		"\r2:00:00/8:00:00  25% | 4000 ops, 120 windows | FAIL so far: fds +1.02/window"} {
		if !strings.Contains(got, want) {
			t.Errorf("progress output %q lacks %q", got, want)
		}
	}
	if !strings.HasSuffix(got, "\n") {
		t.Errorf("progress output %q does not end the redrawn line", got)
	}

	b.Reset()
	p = &soakProgress{w: &b, every: time.Hour}
	for range 3 {
		p.update(gates.SoakStatus{Duration: time.Hour, Verdict: result.Skip})
	}
	if n := strings.Count(b.String(), "\n"); n != 1 || strings.Contains(b.String(), "\r") {
		t.Errorf("plain progress wrote %d lines (%q), want 1 line per period and no \\r", n, b.String())
	}
}

// TestReplayCommandCarriesFlags: the replay line spells out every flag
// that shapes the run, quotes what a shell would split, and leaves out
// output-only flags and the token.
func TestReplayCommandCarriesFlags(t *testing.T) {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	var f suiteFlags
	f.register(fs, true)
	fs.Duration("duration", 0, "")
	fs.Int("hosts", 2, "")
	args := []string{"--target-cmd", "/opt/my server --listen {addr}", "--mutant", "fd-leak-on-delete", "--scopes", "7",
		"--out", "/tmp/x", "-v", "--target-token", "s3cret", "--hosts", "3",
		"--target-env", "A=1", "--target-env", "B=two words"}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	got := replayCommand(fs, map[string]string{"duration": "1h0m0s", "seed": "4", "hosts": "3", "git-timeout": "1s"})
	for _, want := range []string{"gitchaos soak ", "--duration 1h0m0s", "--seed 4", "--hosts 3", "--git-timeout 1s", "--scopes 7",
		"--mutant fd-leak-on-delete", "--target-cmd '/opt/my server --listen {addr}'", `--target-token "$GITCHAOS_TARGET_TOKEN"`,
		"--target-env A=1 --target-env 'B=two words'"} {
		if !strings.Contains(got, want) {
			t.Errorf("replay %q lacks %q", got, want)
		}
	}
	for _, bad := range []string{"--out", " -v", "s3cret"} {
		if strings.Contains(got, bad) {
			t.Errorf("replay %q carries %q", got, bad)
		}
	}
	if q := shellQuote("it's"); q != `'it'\''s'` {
		t.Errorf("shellQuote(it's) = %s", q)
	}
}

// TestSoakReplayLineReplays runs a short soak through the CLI, then the
// printed replay line, and compares the executed steps and outcomes.
func TestSoakReplayLineReplays(t *testing.T) {
	out1, out2 := t.TempDir(), t.TempDir()
	code, stdout, stderr := runCLI(t, "soak", "--duration", "4s", "--window", "2s", "--seed", "9", "--hosts", "1",
		"--scopes", "2", "--steps-per-window", "12", "--git-timeout", "10s", "--out", out1)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	_, line, ok := strings.Cut(stdout, "replay: ")
	if !ok {
		t.Fatalf("no replay line:\n%s", stdout)
	}
	line, _, _ = strings.Cut(line, "\n")
	args := strings.Fields(line) // no quoted values in this run
	if len(args) < 2 || args[0] != "gitchaos" {
		t.Fatalf("replay line %q", line)
	}
	code, stdout, stderr = runCLI(t, append(args[1:], "--out", out2)...)
	if code != exitOK {
		t.Fatalf("replay %q: exit %d\nstdout:\n%s\nstderr:\n%s", line, code, stdout, stderr)
	}
	var lists [2][]string
	for i, dir := range []string{out1, out2} {
		run, err := result.Load(filepath.Join(dir, "report.json"))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range run.Scenarios[0].Markers {
			if m.Kind == "step" {
				lists[i] = append(lists[i], m.Label)
			}
		}
	}
	if len(lists[0]) != 24 || strings.Join(lists[0], "\n") != strings.Join(lists[1], "\n") {
		t.Errorf("run and replay executed different steps (%d and %d, want 24):\n%s\n---\n%s", len(lists[0]), len(lists[1]),
			strings.Join(lists[0], "\n"), strings.Join(lists[1], "\n"))
	}
}
