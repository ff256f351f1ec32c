package gates

import (
	"slices"
	"testing"
)

// The gates that run alone follow from the declared checks and the metric
// table: those judging a metric read from this process or its tree.
func TestProcessWide(t *testing.T) {
	var got []string
	for _, n := range Names() {
		if ProcessWide(n) {
			got = append(got, n)
		}
	}
	if want := []string{"timeout", "churn", "repeat-sync"}; !slices.Equal(got, want) {
		t.Errorf("process-wide gates %v, want %v", got, want)
	}
	if !ProcessWide("soak") {
		t.Error("soak judges fds and memory: process-wide")
	}
}
