package compare

import "sort"

// Holm adjusts p-values for testing them together (Holm 1979): sorted
// ascending, the i-th smallest (1-based) of m becomes
// max over j <= i of min(1, (m−j+1)·p_(j)). Rejecting where the adjusted
// value is below α keeps the chance of any false rejection among the m at
// most α, without assuming the tests independent. The result is in the
// order of ps.
func Holm(ps []float64) []float64 {
	m := len(ps)
	idx := make([]int, m)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return ps[idx[a]] < ps[idx[b]] })
	out := make([]float64, m)
	run := 0.0
	for rank, i := range idx {
		adj := float64(m-rank) * ps[i]
		if adj > 1 {
			adj = 1
		}
		if adj > run {
			run = adj
		}
		out[i] = run
	}
	return out
}
