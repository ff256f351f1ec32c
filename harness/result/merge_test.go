package result

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func shardRun(t *testing.T, of []string, i, n int) *Run {
	t.Helper()
	sh := Shard{Index: i, Total: n}
	r := &Run{ID: "gate-1-x", Kind: "gate", Seed: 1, Target: "t", Testbed: "local", Settings: "s",
		Started: time.Date(2026, 12, 3, 12, 0, i, 0, time.UTC), Duration: 2, Shard: &sh}
	for _, name := range sh.Pick(of) {
		r.Scenarios = append(r.Scenarios, &Scenario{Name: name, Checks: []Check{{Name: name + " ok", Verdict: Pass}}})
	}
	return r
}

func TestParseShardAndPick(t *testing.T) {
	for _, bad := range []string{"", "1", "0/3", "4/3", "a/b", "1/0", "-1/2"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) accepted", bad)
		}
	}
	of := []string{"a", "b", "c", "d", "e"}
	var all []string
	for i := 1; i <= 3; i++ {
		sh, err := ParseShard(strings.Join([]string{string(rune('0' + i)), "3"}, "/"))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, sh.Pick(of)...)
	}
	slices.Sort(all)
	if !slices.Equal(all, of) {
		t.Fatalf("shards 1..3 of %v picked %v, want each item exactly once", of, all)
	}
	sh := Shard{Index: 2, Total: 3}
	if got := sh.Pick(of); !slices.Equal(got, []string{"b", "e"}) {
		t.Fatalf("shard 2/3 of %v = %v, want [b e]", of, got)
	}
}

func TestMerge(t *testing.T) {
	of := []string{"boot", "offline", "timeout", "churn", "webhook-storm"}
	a, b := shardRun(t, of, 1, 2), shardRun(t, of, 2, 2)
	m, err := Merge([]*Run{b, a}, []string{"B/report.json", "A/report.json"})
	if err != nil {
		t.Fatal(err)
	}
	if got := scenarioNames(m); !slices.Equal(got, of) {
		t.Fatalf("merged scenarios %v, want %v in selection order", got, of)
	}
	if m.Shard != nil || len(m.Parts) != 2 || m.Parts[0].Source != "A/report.json" || m.Parts[0].Shard.Index != 1 || m.Parts[1].Seed != 1 {
		t.Fatalf("merged parts %+v, want shard 1 (A) then 2 (B) with seeds", m.Parts)
	}
	if m.Duration != 3 { // shard 1 starts at :01, shard 2 ends at :04
		t.Errorf("merged duration %v, want the wall span 3 s", m.Duration)
	}

	diff := shardRun(t, of, 2, 2)
	diff.Settings = "other"
	diff.Seed = 2
	for _, tc := range []struct {
		name  string
		parts []*Run
		want  []string
	}{
		{"settings", []*Run{a, diff}, []string{"disagree on settings", "disagree on seed", "A", "B"}},
		{"overlap", []*Run{a, shardRun(t, of, 1, 2), b}, []string{"overlapping shards", "shard 1/2"}},
		{"missing", []*Run{a}, []string{"missing shard 2/2", "offline,churn"}},
		{"counts", []*Run{a, shardRun(t, of, 2, 3)}, []string{"different shard counts"}},
		{"selection", []*Run{a, shardRun(t, of[:4], 2, 2)}, []string{"different selections"}},
		{"unsharded", []*Run{a, {Kind: "gate", Seed: 1}}, []string{"not a shard"}},
		{"interrupted", []*Run{a, func() *Run { r := shardRun(t, of, 2, 2); r.Scenarios = r.Scenarios[:1]; return r }()}, []string{"interrupted", "want offline,churn"}},
	} {
		_, err := Merge(tc.parts, []string{"A", "B", "C"})
		if err == nil {
			t.Errorf("%s: merged", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", tc.name, err, w)
			}
		}
	}
}
