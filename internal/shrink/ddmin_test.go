package shrink

import (
	"context"
	"slices"
	"testing"
)

// needs fails when every one of want is in the candidate.
func needs(want ...int) (Test, *int) {
	calls := 0
	return func(_ context.Context, c []int) ([]int, bool) {
		calls++
		for _, w := range want {
			if !slices.Contains(c, w) {
				return nil, false
			}
		}
		return nil, true
	}, &calls
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func TestDDMinFindsTheNeededItems(t *testing.T) {
	for _, want := range [][]int{{7}, {3, 250}, {0, 1, 2}, {10, 50, 90, 130}} {
		test, calls := needs(want...)
		got := DDMin(context.Background(), seq(300), test)
		if !slices.Equal(got, want) {
			t.Errorf("needs %v: got %v", want, got)
		}
		if *calls > 200 {
			t.Errorf("needs %v: %d tests, want <= 200", want, *calls)
		}
		t.Logf("needs %v: %d tests", want, *calls)
	}
}

func TestDDMinNothingNeeded(t *testing.T) {
	test, _ := needs()
	if got := DDMin(context.Background(), seq(10), test); len(got) != 0 {
		t.Errorf("got %v, want empty", got)
	}
}

// A repairing test: item 5 (a delete) is useless without item 2 (its
// put); the test drops it and DDMin goes on from the repaired candidate.
func TestDDMinRepair(t *testing.T) {
	var tested [][]int
	test := func(_ context.Context, c []int) ([]int, bool) {
		kept := slices.Clone(c)
		if slices.Contains(kept, 5) && !slices.Contains(kept, 2) {
			kept = slices.DeleteFunc(kept, func(v int) bool { return v == 5 })
		}
		tested = append(tested, kept)
		return kept, slices.Contains(kept, 2) && slices.Contains(kept, 5)
	}
	got := DDMin(context.Background(), seq(20), test)
	if !slices.Equal(got, []int{2, 5}) {
		t.Errorf("got %v, want [2 5]", got)
	}
	for _, c := range tested {
		if slices.Contains(c, 5) && !slices.Contains(c, 2) {
			t.Errorf("a candidate with 5 but not 2 was judged: %v", c)
		}
	}
}

func TestDDMinStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	test := func(_ context.Context, c []int) ([]int, bool) {
		n++
		if n == 3 {
			cancel()
		}
		return nil, slices.Contains(c, 9)
	}
	got := DDMin(ctx, seq(100), test)
	if !slices.Contains(got, 9) {
		t.Errorf("got %v: lost the failing item", got)
	}
	if n > 4 {
		t.Errorf("%d tests after cancel", n)
	}
}
