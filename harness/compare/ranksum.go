package compare

import (
	"math"
	"sort"
)

// exactMax is the largest pooled sample (base runs + head runs) whose
// rank-sum distribution is counted exactly; beyond it the normal
// approximation with tie and continuity corrections is used.
const exactMax = 40

// RankTest is the outcome of a two-sided Mann–Whitney U (Wilcoxon
// rank-sum) test of head against base.
type RankTest struct {
	// U counts the (base, head) pairs where head is higher, a tie
	// counting one half: 0 means every head value is below every base
	// value, n·m every head value above.
	U float64 `json:"u"`
	// P is the two-sided p-value.
	P float64 `json:"p"`
	// MinP is the smallest p-value any split of these pooled values into
	// groups of these sizes could give (the most extreme arrangement):
	// a test whose MinP is above the level can never reject.
	MinP float64 `json:"min_p"`
	// Exact: P is the exact permutation p-value conditional on the ties
	// (pooled sample of at most 40); otherwise the normal approximation
	// with tie and continuity corrections.
	Exact bool `json:"exact"`
}

// MannWhitney tests whether head and base come from the same
// distribution against a shift either way. Up to 40 values in all it
// counts the exact distribution of the head rank sum over every split of
// the pooled midranks (ties kept as they are, so it stays exact with
// ties); beyond that it uses the normal approximation with the tie
// correction of the variance and a continuity correction of 1/2.
func MannWhitney(base, head []float64) RankTest {
	n, m := len(base), len(head)
	if n == 0 || m == 0 {
		return RankTest{P: 1, MinP: 1}
	}
	ranks, ties := doubledRanks(base, head)
	N := n + m
	// Head rank sum, doubled (midranks are halves).
	w2 := 0
	for _, r := range ranks[n:] {
		w2 += r
	}
	u := float64(w2)/2 - float64(m*(m+1))/2
	sorted := append([]int(nil), ranks...)
	sort.Ints(sorted)
	lo, hi := 0, 0 // the extreme head rank sums
	for i := 0; i < m; i++ {
		lo += sorted[i]
		hi += sorted[N-1-i]
	}
	mean2 := m * (N + 1) // E[2W]
	dev := func(s int) int { return absInt(s - mean2) }
	extreme := max(dev(lo), dev(hi))
	if N <= exactMax {
		dist := rankSumCounts(ranks, m)
		tail := func(d int) float64 {
			var c, total float64
			for s, k := range dist {
				total += k
				if dev(s) >= d {
					c += k
				}
			}
			return c / total
		}
		return RankTest{U: u, P: tail(dev(w2)), MinP: tail(extreme), Exact: true}
	}
	nf, mf, Nf := float64(n), float64(m), float64(N)
	v := nf * mf / 12 * ((Nf + 1) - ties/(Nf*(Nf-1)))
	p := func(d2 int) float64 { // d2: doubled deviation of W, = doubled deviation of U
		if v <= 0 {
			return 1
		}
		z := (float64(d2)/2 - 0.5) / math.Sqrt(v)
		if z < 0 {
			z = 0
		}
		return math.Erfc(z / math.Sqrt2)
	}
	return RankTest{U: u, P: p(dev(w2)), MinP: p(extreme)}
}

// doubledRanks returns twice the midrank of every value (base first, then
// head), integers even for ties, and Σ(t³−t) over the tie groups.
func doubledRanks(base, head []float64) ([]int, float64) {
	type item struct {
		v float64
		i int
	}
	all := make([]item, 0, len(base)+len(head))
	for i, v := range base {
		all = append(all, item{v, i})
	}
	for i, v := range head {
		all = append(all, item{v, len(base) + i})
	}
	sort.SliceStable(all, func(a, b int) bool { return all[a].v < all[b].v })
	ranks := make([]int, len(all))
	var ties float64
	for i := 0; i < len(all); {
		j := i
		for j+1 < len(all) && all[j+1].v == all[i].v {
			j++
		}
		for k := i; k <= j; k++ {
			ranks[all[k].i] = i + j + 2 // (i+1 + j+1)/2, doubled
		}
		t := float64(j - i + 1)
		ties += t*t*t - t
		i = j + 1
	}
	return ranks, ties
}

// rankSumCounts returns, for every doubled rank sum s, how many ways k
// of the given doubled ranks add up to s.
func rankSumCounts(ranks []int, k int) []float64 {
	total := 0
	for _, r := range ranks {
		total += r
	}
	dp := make([][]float64, k+1)
	for i := range dp {
		dp[i] = make([]float64, total+1)
	}
	dp[0][0] = 1
	for i, r := range ranks {
		for j := min(i+1, k); j >= 1; j-- {
			for s := total - r; s >= 0; s-- {
				if c := dp[j-1][s]; c != 0 {
					dp[j][s+r] += c
				}
			}
		}
	}
	return dp[k]
}

// Shift is the Hodges–Lehmann estimate of head − base with its
// distribution-free (Moses) confidence interval.
type Shift struct {
	// Estimate is the median of the n·m differences head_j − base_i.
	Estimate float64 `json:"estimate"`
	// Low and High bound the shift: the (c+1)-th smallest and largest
	// differences, c the largest count with P(U <= c) <= (1−level)/2.
	// With too few runs for any c, the whole range of differences.
	Low  float64 `json:"low"`
	High float64 `json:"high"`
	// Confidence is the interval's coverage: the level asked for, or,
	// with too few runs to reach it, the coverage of the whole range of
	// differences, 1 − 2/C(n+m, n) (0 for one run a side, 0.9 for three).
	Confidence float64 `json:"confidence"`
}

// HodgesLehmann estimates the shift head − base as the median of all
// pairwise differences and bounds it with the Moses interval at level
// (e.g. 0.95), read off the U distribution of samples of these sizes
// without ties (exact up to 40 values, normal approximation beyond).
// The interval is the set of shifts the rank-sum test would not reject,
// so it agrees with MannWhitney: a shift of zero outside the interval is
// a significant difference at 1−level.
func HodgesLehmann(base, head []float64, level float64) Shift {
	n, m := len(base), len(head)
	if n == 0 || m == 0 {
		return Shift{Estimate: math.NaN(), Low: math.NaN(), High: math.NaN()}
	}
	d := make([]float64, 0, n*m)
	for _, h := range head {
		for _, b := range base {
			d = append(d, h-b)
		}
	}
	sort.Float64s(d)
	c := mosesCount(n, m, (1-level)/2)
	conf := level
	if c < 0 {
		conf = max(0, 1-2/math.Exp(lchoose(n+m, n)))
	}
	c = max(0, min(c, len(d)/2))
	if c >= len(d)-c {
		c = (len(d) - 1) / 2
	}
	return Shift{Estimate: median(d), Low: d[c], High: d[len(d)-1-c], Confidence: conf}
}

// mosesCount is the largest c with P(U <= c) <= tail for samples of n
// and m without ties (-1 when even U = 0 is more likely than tail).
func mosesCount(n, m int, tail float64) int {
	N := n + m
	if N <= exactMax {
		ranks := make([]int, N)
		for i := range ranks {
			ranks[i] = 2 * (i + 1)
		}
		dist := rankSumCounts(ranks, m)
		var total float64
		for _, k := range dist {
			total += k
		}
		// U = W - m(m+1)/2; doubled: s/2 - m(m+1)/2.
		off := m * (m + 1)
		var cum float64
		c := -1
		for s := off; s < len(dist); s += 2 {
			cum += dist[s]
			if cum/total > tail {
				break
			}
			c = (s - off) / 2
		}
		return c
	}
	z := zQuantile(1 - tail)
	nm := float64(n * m)
	return int(math.Floor(nm/2 - z*math.Sqrt(nm*float64(N+1)/12)))
}

// zQuantile is the standard normal quantile.
func zQuantile(q float64) float64 { return math.Sqrt2 * math.Erfinv(2*q-1) }

func median(sorted []float64) float64 {
	k := len(sorted)
	if k == 0 {
		return math.NaN()
	}
	if k%2 == 1 {
		return sorted[k/2]
	}
	return (sorted[k/2-1] + sorted[k/2]) / 2
}

// Median returns the median of xs (NaN for none); xs is not changed.
func Median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return median(s)
}

func absInt(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
