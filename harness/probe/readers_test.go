package probe

import (
	"slices"
	"testing"

	"github.com/gitchaos/gitchaos/harness/metric"
)

// readers lists the metrics each kind of source has a reader for here.
// A stats endpoint reads any key by name: its "readers" are the table's
// rows (knownMetric) and derivations, nothing to check.
func readers() map[metric.Source][]string {
	out := map[metric.Source][]string{}
	for _, r := range processReaders {
		out[metric.Process] = append(out[metric.Process], r.metric)
	}
	for _, r := range treeReaders {
		out[metric.Tree] = append(out[metric.Tree], r.metric)
	}
	for _, r := range selfReaders {
		out[metric.Self] = append(out[metric.Self], r.metric)
	}
	for _, r := range dirReaders {
		out[metric.Dir] = append(out[metric.Dir], r.metric)
	}
	return out
}

// TestReaders fails when harness/metric's table and the readers here
// disagree: a row claims a kind of source without a reader for it, or a
// reader reads a metric for a kind its row does not claim (or twice).
func TestReaders(t *testing.T) {
	kinds := map[metric.Source]string{metric.Process: "process (processReaders, pid.go)", metric.Tree: "tree (treeReaders, tree.go)", metric.Self: "self (selfReaders, self.go)", metric.Dir: "dir (dirReaders, dir.go)"}
	have := readers()
	for k, what := range kinds {
		want := metric.Names(func(r metric.Row) bool { return r.ReadBy(k) })
		for _, m := range want {
			if !slices.Contains(have[k], m) {
				t.Errorf("metric %q: its row says a %s source reads it, but there is no reader", m, what)
			}
		}
		for i, m := range have[k] {
			if !slices.Contains(want, m) {
				t.Errorf("metric %q: a %s reader reads it, but its row in harness/metric does not claim that source", m, what)
			}
			if slices.Index(have[k], m) != i {
				t.Errorf("metric %q: two %s readers", m, what)
			}
		}
	}
	for _, r := range metric.All() {
		if r.StatsFrom != nil && !r.ReadBy(metric.Stats) {
			t.Errorf("metric %q: derived from stats key %q, but its row does not claim the stats source", r.Name, r.StatsFrom.Key)
		}
		if r.ReadBy(metric.Stats) != knownMetric(r.Name) {
			t.Errorf("metric %q: knownMetric disagrees with its row", r.Name)
		}
	}
}

// TestInsideOnly pins the metrics only the process itself can tell: a
// PID source and a stats endpoint that lacks them say so.
func TestInsideOnly(t *testing.T) {
	if got, want := insideOnly(), []string{metric.Goroutines, metric.Heap}; !slices.Equal(got, want) {
		t.Errorf("insideOnly() = %v, want %v", got, want)
	}
}
