// Package shrink is delta debugging (Zeller and Hildebrandt's ddmin)
// over a list of items identified by index: it finds a 1-minimal subset
// for which a test still fails. It knows nothing of soaks; the caller's
// test runs a candidate and may repair it (drop what the removals left
// dangling) before judging it.
package shrink

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Test runs a candidate (indices, ascending) and reports whether it
// still fails. It may return a repaired candidate (a subset of the one
// given, e.g. without a delete whose put was removed): when it fails,
// DDMin continues from that one.
type Test func(ctx context.Context, candidate []int) (kept []int, fails bool)

// DDMin returns a subset of items that still fails and from which
// removing any single item makes it pass (1-minimal), unless ctx ends
// first: then the smallest failing subset found so far. items must fail.
// Each distinct candidate is tested once.
func DDMin(ctx context.Context, items []int, test Test) []int {
	seen := map[string]bool{}
	try := func(c []int) ([]int, bool) {
		key := keyOf(c)
		if fails, ok := seen[key]; ok && !fails {
			return nil, false
		}
		kept, fails := test(ctx, c)
		seen[key] = fails
		if fails && kept == nil {
			kept = c
		}
		return kept, fails
	}
	cur := slices.Clone(items)
	if len(cur) > 0 {
		if kept, ok := try(nil); ok { // no item needed at all
			return kept
		}
	}
	n := 2
	for len(cur) >= 2 && ctx.Err() == nil {
		n = min(n, len(cur))
		chunks := split(cur, n)
		reduced := false
		for _, c := range chunks {
			if ctx.Err() != nil {
				return cur
			}
			if kept, ok := try(c); ok {
				cur, n, reduced = kept, 2, true
				break
			}
		}
		if !reduced && n > 2 {
			for i := range chunks {
				if ctx.Err() != nil {
					return cur
				}
				if kept, ok := try(complement(cur, chunks[i])); ok {
					cur, n, reduced = kept, max(n-1, 2), true
					break
				}
			}
		}
		if !reduced {
			if n >= len(cur) {
				break
			}
			n = min(2*n, len(cur))
		}
	}
	return cur
}

// split cuts s into n nearly equal contiguous chunks.
func split(s []int, n int) [][]int {
	out := make([][]int, 0, n)
	for i := range n {
		lo, hi := i*len(s)/n, (i+1)*len(s)/n
		if hi > lo {
			out = append(out, s[lo:hi])
		}
	}
	return out
}

// complement is s without the items of c (a chunk of s).
func complement(s, c []int) []int {
	out := make([]int, 0, len(s)-len(c))
	for _, v := range s {
		if !slices.Contains(c, v) {
			out = append(out, v)
		}
	}
	return out
}

func keyOf(c []int) string {
	var b strings.Builder
	for _, v := range c {
		fmt.Fprintf(&b, "%d,", v)
	}
	return b.String()
}
