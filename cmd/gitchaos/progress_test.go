package main

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/harness/eventually"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/internal/gates"
)

// TestTerminalDetection: /dev/null is a character device but no terminal
// (the soak's old check took it for one), a pipe and a buffer are none.
func TestTerminalDetection(t *testing.T) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if fi, err := null.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("%s: want a character device to test against (mode %v, %v)", os.DevNull, fi.Mode(), err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	for name, out := range map[string]any{os.DevNull: null, "a pipe": w, "a buffer": &bytes.Buffer{}} {
		if isTerminal(out.(interface{ Write([]byte) (int, error) })) {
			t.Errorf("%s taken for a terminal", name)
		}
	}
}

func TestClampLine(t *testing.T) {
	long := strings.Repeat("é", 100)
	if got := clampLine(long, 40); len([]rune(got)) != 39 || !strings.HasSuffix(got, "…") {
		t.Errorf("clampLine(100 runes, 40) = %d runes %q, want 39 ending in …", len([]rune(got)), got)
	}
	if got := clampLine("short", 40); got != "short" {
		t.Errorf("clampLine(short) = %q", got)
	}
	var b bytes.Buffer
	p := &soakProgress{w: &b, term: true, live: liveLine{w: &b, width: 30}}
	p.update(gates.SoakStatus{Elapsed: 2 * time.Hour, Duration: 8 * time.Hour, Steps: 4000, Windows: 120,
		Verdict: result.Fail, Failing: []string{"fds +1.02/window", "rss_bytes +3 MiB/window"}})
	for _, l := range strings.Split(b.String(), "\r") {
		if n := len([]rune(l)); n > 29 {
			t.Errorf("soak progress line of %d columns on a 30-column terminal: %q", n, l)
		}
	}
}

func scenarioResult(name string, verdicts ...result.Verdict) *result.Scenario {
	res := &result.Scenario{Name: name, Duration: 2.5}
	for i, v := range verdicts {
		res.Checks = append(res.Checks, result.Check{Name: "check" + string(rune('a'+i)), Verdict: v})
	}
	return res
}

// TestGateProgressPlain: not a terminal, one plain line per finished
// scenario, no carriage returns.
func TestGateProgressPlain(t *testing.T) {
	var b bytes.Buffer
	p := newGateProgress(&b)
	p.event(gates.SuiteEvent{Index: 0, Total: 2, Name: "boot"})
	p.event(gates.SuiteEvent{Index: 0, Total: 2, Name: "boot", Result: scenarioResult("boot", result.Pass, result.Pass)})
	p.event(gates.SuiteEvent{Index: 1, Total: 2, Name: "churn"})
	p.event(gates.SuiteEvent{Index: 1, Total: 2, Name: "churn", Result: scenarioResult("churn", result.Pass, result.Fail, result.Skip)})
	p.done()
	want := "[1/2] PASS  boot: 2 checks in 2.5 s\n[2/2] FAIL  churn: 3 checks, 1 failed (checkb), 1 skipped in 2.5 s\n"
	if b.String() != want {
		t.Fatalf("plain progress = %q, want %q", b.String(), want)
	}
}

// TestGateProgressLive: on a terminal the running scenario has one line
// redrawn in place with its clock, replaced by the verdict line.
func TestGateProgressLive(t *testing.T) {
	var b syncBuffer
	p := &gateProgress{w: &b, term: true, width: 60, tick: 5 * time.Millisecond}
	p.event(gates.SuiteEvent{Index: 0, Total: 9, Name: "boot"})
	eventually.Within(5*time.Second, func() bool { return strings.Contains(b.String(), "\r[1/9] boot running 0:01") })
	p.event(gates.SuiteEvent{Index: 0, Total: 9, Name: "boot", Result: scenarioResult("boot", result.Pass)})
	p.done()
	out := b.String()
	if n := strings.Count(out, "\r[1/9] boot running 0:00"); n != 1 || !strings.Contains(out, "\r[1/9] boot running 0:01") {
		t.Fatalf("live line: want 0:00 drawn once (unchanged lines are not redrawn), then 0:01: %q", out)
	}
	if !regexp.MustCompile(`\r\s+\r\[1/9\] PASS  boot: 1 checks in 2\.5 s\n$`).MatchString(out) {
		t.Fatalf("the live line is not cleared before the verdict line: %q", out)
	}
}
