package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

const fdRepro = "../../testdata/regressions/fd-leak-on-delete.yaml"

func runCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestReplayShrinkUsage: replay and shrink validate their input and
// flags without running anything.
func TestReplayShrinkUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"replay"}, exitUsage, "a schedule file is required"},
		{[]string{"replay", "nope.yaml"}, exitUsage, "read schedule"},
		{[]string{"replay", fdRepro, "--seed", "3"}, exitUsage, "does not apply"},
		{[]string{"replay", fdRepro, "--dry-run"}, exitOK, "dry run: schedule valid"},
		{[]string{"replay", "--dry-run", fdRepro, "--correct"}, exitOK, "reffetcher (correct)"},
		{[]string{"replay", fdRepro, "--pause-scale", "0"}, exitUsage, "--pause-scale"},
		{[]string{"shrink", fdRepro, "--replays", "3/2", "--dry-run"}, exitUsage, "k/n"},
		{[]string{"shrink", fdRepro, "--check", "soak.nope", "--dry-run", "--out", t.TempDir()}, exitUsage, "not a declared check"}, // undeclared on purpose
		{[]string{"shrink", fdRepro, "--replays", "2/3", "--dry-run", "--out", t.TempDir()}, exitOK, "keeping soak.fds-flat failing in 2/3 replays"},
		{[]string{"soak", "--duration", "1m", "--regressions", t.TempDir(), "--dry-run"}, exitUsage, "no schedule"},
	} {
		code, out, errs := runCmd(tc.args...)
		if code != tc.code || !strings.Contains(out+errs, tc.want) {
			t.Errorf("gitchaos %s: exit %d, want %d with %q\nstdout: %s\nstderr: %s", strings.Join(tc.args, " "), code, tc.code, tc.want, out, errs)
		}
	}
}

func TestParseReplays(t *testing.T) {
	for in, want := range map[string][2]int{"1/1": {1, 1}, "2/3": {2, 3}, "3": {3, 3}} {
		k, n, err := parseReplays(in)
		if err != nil || k != want[0] || n != want[1] {
			t.Errorf("%q: %d/%d %v", in, k, n, err)
		}
	}
	for _, bad := range []string{"0/1", "3/2", "x", "1/0", "1/101"} {
		if _, _, err := parseReplays(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestSoakRegressionsFailFast: a soak with --regressions replays the
// reproducers against its own target first: with the mutant on it stops
// at the first reproducer that fails, names it and its check, and exits 1 before
// soaking.
func TestSoakRegressionsFailFast(t *testing.T) {
	code, out, errs := runCmd("soak", "--duration", "1h", "--mutant", "fd-leak-on-delete", "--regressions", "../../testdata/regressions")
	// Both reproducers put a scope and delete it: with this mutant either
	// leaks an fd, whichever comes first.
	if code != exitFail || !strings.Contains(out, ".yaml fails: replay it with") || !strings.Contains(out, "soak.fds-flat") {
		t.Fatalf("exit %d, want 1 naming a reproducer and soak.fds-flat\nstdout: %s\nstderr: %s", code, out, errs)
	}
	if strings.Contains(out, "regressions: all") {
		t.Errorf("it went on after a failing regression:\n%s", out)
	}
}
