package main

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gitchaos/gitchaos/harness/fetcher"
	"github.com/gitchaos/gitchaos/harness/result"
)

// shardTestScenarios are short gates; three split into two shards. They
// run with a 3 s git timeout: at the default 1 s, clones on this loaded
// 2-core machine time out and a scenario errors before it has checks.
const shardTestScenarios = "offline,repeat-sync,webhook-storm"

var shardTestFlags = []string{"--only", shardTestScenarios, "--git-timeout", "3s"}

func checksOf(run *result.Run) map[string][]string {
	out := map[string][]string{}
	for _, sc := range run.Scenarios {
		for _, c := range sc.Checks {
			out[sc.Name] = append(out[sc.Name], c.Name+"="+string(c.Verdict))
		}
	}
	return out
}

// TestShardMergeRoundTrip: gate --shard 1/2 and 2/2, then report merge,
// equals the unsharded gate in scenarios, checks and verdicts; parts that
// overlap, miss a shard or disagree are refused by name.
func TestShardMergeRoundTrip(t *testing.T) {
	skipGateRun(t)
	dir := t.TempDir()
	whole, a, b, merged := filepath.Join(dir, "whole"), filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "merged")
	for _, args := range [][]string{
		append(append([]string{"gate"}, shardTestFlags...), "--out", whole),
		append(append([]string{"gate"}, shardTestFlags...), "--shard", "1/2", "--out", a),
		append(append([]string{"gate"}, shardTestFlags...), "--shard", "2/2", "--out", b),
	} {
		// Exit 1 (a timing budget missed on a loaded machine) still makes a
		// complete run to compare; 2 does not.
		if code, stdout, stderr := runCLI(t, args...); code != exitOK && code != exitFail {
			t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, stdout, stderr)
		}
	}
	aj, bj := filepath.Join(a, "report.json"), filepath.Join(b, "report.json")
	code, stdout, stderr := runCLI(t, "report", "merge", bj, aj, "--out", merged)
	if code != exitOK && code != exitFail {
		t.Fatalf("report merge: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	want, err := result.Load(filepath.Join(whole, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := result.Load(filepath.Join(merged, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(scenarioNamesOf(got), scenarioNamesOf(want)) {
		t.Fatalf("merged scenarios %v, unsharded %v", scenarioNamesOf(got), scenarioNamesOf(want))
	}
	// The merged run holds the shards' checks unchanged (names and
	// verdicts), the same checks as the unsharded run; verdicts of the two
	// separate executions are compared too, but a timing budget missed
	// under load in only one of them is logged, not failed.
	gc, wc := checksOf(got), checksOf(want)
	ac, bc := checksOf(mustLoad(t, aj)), checksOf(mustLoad(t, bj))
	for name := range gc {
		part, ok := ac[name]
		if !ok {
			part = bc[name]
		}
		if !slices.Equal(gc[name], part) {
			t.Errorf("%s: merged checks %v, shard's %v", name, gc[name], part)
		}
	}
	for name, w := range wc {
		if !slices.Equal(checkNames(gc[name]), checkNames(w)) {
			t.Errorf("%s: merged checks %v, unsharded %v", name, gc[name], w)
		} else if !slices.Equal(gc[name], w) {
			t.Logf("%s: verdicts differ between the sharded and the unsharded execution (load?): %v vs %v", name, gc[name], w)
		}
	}
	if got.Verdict() != mergedVerdict(mustLoad(t, aj), mustLoad(t, bj)) {
		t.Errorf("merged verdict %s, shards' %s", got.Verdict(), mergedVerdict(mustLoad(t, aj), mustLoad(t, bj)))
	}
	if len(got.Parts) != 2 || got.Parts[0].Shard.String() != "1/2" || got.Parts[1].Source != bj || got.Parts[0].Seed != 1 {
		t.Errorf("merged parts %+v, want shard 1/2 from %s then 2/2 from %s, seed 1", got.Parts, aj, bj)
	}
	if got.Settings == "" || got.Settings != want.Settings {
		t.Errorf("merged settings %q, unsharded %q", got.Settings, want.Settings)
	}
	for _, f := range []string{"report.html", "report.md", "report.xml"} {
		if fi, err := os.Stat(filepath.Join(merged, f)); err != nil || fi.Size() == 0 {
			t.Errorf("merged %s: %v", f, err)
		}
	}

	// Parts that cannot be merged.
	other, err := result.Load(bj)
	if err != nil {
		t.Fatal(err)
	}
	other.Seed = 7
	otherPath := filepath.Join(dir, "other.json")
	if err := other.Save(otherPath); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{aj, aj, bj}, "overlapping shards"},
		{[]string{aj}, "missing shard 2/2"},
		{[]string{aj, otherPath}, "disagree on seed"},
		{[]string{aj, filepath.Join(whole, "report.json")}, "not a shard"},
		{[]string{aj, bj}, "--out DIR is required"},
	} {
		args := append([]string{"report", "merge"}, tc.args...)
		if tc.want != "--out DIR is required" {
			args = append(args, "--out", filepath.Join(dir, "bad"))
		}
		code, _, stderr := runCLI(t, args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("report merge %v: exit %d, stderr %q; want exit 2 naming %q", tc.args, code, stderr, tc.want)
		}
	}
	// More shards than scenarios: the empty shard is refused up front.
	if code, _, stderr := runCLI(t, "gate", "--only", "offline", "--shard", "2/2"); code != exitUsage || !strings.Contains(stderr, "shard 2 empty") {
		t.Errorf("gate --only offline --shard 2/2: exit %d, %q; want exit 2 naming the empty shard", code, stderr)
	}
	if code, _, stderr := runCLI(t, "gate", "--shard", "3/2"); code != exitUsage || !strings.Contains(stderr, "1 <= i <= n") {
		t.Errorf("gate --shard 3/2: exit %d, %q; want exit 2", code, stderr)
	}
}

func scenarioNamesOf(r *result.Run) []string {
	var out []string
	for _, sc := range r.Scenarios {
		out = append(out, sc.Name)
	}
	return out
}

func mustLoad(t *testing.T, path string) *result.Run {
	t.Helper()
	r, err := result.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func checkNames(checks []string) []string {
	out := make([]string, len(checks))
	for i, c := range checks {
		out[i], _, _ = strings.Cut(c, "=")
	}
	return out
}

// mergedVerdict is the verdict of the shards taken together.
func mergedVerdict(parts ...*result.Run) result.Verdict {
	all := &result.Run{}
	for _, p := range parts {
		all.Scenarios = append(all.Scenarios, p.Scenarios...)
	}
	return all.Verdict()
}

// TestShardRows: matrix rows split round-robin, every row in one shard.
func TestShardRows(t *testing.T) {
	var rows []*matrixRow
	for _, n := range []string{"correct", "m1", "m2", "m3", "m4"} {
		rows = append(rows, &matrixRow{name: n})
	}
	var got []string
	for i := 1; i <= 2; i++ {
		var f shardFlag
		if err := f.Set(strings.Join([]string{string(rune('0' + i)), "2"}, "/")); err != nil {
			t.Fatal(err)
		}
		part, err := f.shardRows(rows)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range part {
			got = append(got, r.name)
		}
	}
	if want := []string{"correct", "m2", "m4", "m1", "m3"}; !slices.Equal(got, want) {
		t.Fatalf("shards 1/2 + 2/2 of the rows = %v, want %v", got, want)
	}
	var f shardFlag
	if err := f.Set("6/6"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.shardRows(rows); err == nil || !strings.Contains(err.Error(), "at most 5 shards") {
		t.Fatalf("6 shards of 5 rows: %v, want an error naming the limit", err)
	}
}

// TestMatrixParallel: with --parallel the rows of a gate all run and are
// judged; the correct row and a mutant caught by a flatness check (the
// process's fds) run alone, the rest may share the process.
func TestMatrixParallel(t *testing.T) {
	code, stdout, stderr := runCLI(t, "matrix", "--only", "webhook-storm", "--parallel", "2")
	if code != exitOK {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, row := range []string{"correct", "webhook-task-leak", "sweep-only-on-add", "stale-content-cache"} {
		if !regexp.MustCompile(`(?m)^` + row + ` +ok `).MatchString(stdout) {
			t.Errorf("no ok line for row %s:\n%s", row, stdout)
		}
	}
	if !strings.Contains(stdout, "matrix: 4 rows, 4 as expected, 0 not") {
		t.Errorf("summary missing:\n%s", stdout)
	}
	for _, isolated := range []bool{false, true} {
		alone := map[string]bool{"correct": runsAlone(&matrixRow{name: "correct"}, isolated)}
		ms, err := fetcher.LookupMutants([]string{"fd-leak-on-delete", "shared-pool", "reopen-per-sync", "no-purge-on-delete"})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			row, ok := mutantRow(m, nil)
			if !ok {
				t.Fatalf("mutant %s has no row", m.Name)
			}
			alone[m.Name] = runsAlone(row, isolated)
		}
		// Isolated in a process of its own, a flatness row runs beside
		// the others; the correct row (latencies judged) always alone.
		want := map[string]bool{"correct": true, "fd-leak-on-delete": !isolated, "reopen-per-sync": !isolated, "shared-pool": false, "no-purge-on-delete": false}
		if !maps.Equal(alone, want) {
			t.Errorf("isolated %v: runs alone: %v, want %v", isolated, alone, want)
		}
	}
}
