package compare

import "math"

// Fisher is the two-sided Fisher exact test on a 2×2 table of pass and
// fail counts: base passed basePass and failed baseFail times, head
// headPass and headFail. P sums the probabilities (hypergeometric, margins
// fixed) of every table no more likely than the observed one; MinP is the
// smallest P any table with these margins could give.
func Fisher(basePass, baseFail, headPass, headFail int) (p, minP float64) {
	r1, r2 := basePass+baseFail, headPass+headFail
	c1 := basePass + headPass
	n := r1 + r2
	if r1 == 0 || r2 == 0 || c1 == 0 || c1 == n {
		return 1, 1
	}
	lo, hi := max(0, c1-r2), min(r1, c1)
	prob := make([]float64, hi-lo+1)
	for x := lo; x <= hi; x++ {
		prob[x-lo] = math.Exp(lchoose(r1, x) + lchoose(r2, c1-x) - lchoose(n, c1))
	}
	pOf := func(x int) float64 {
		ref := prob[x-lo] * (1 + 1e-7)
		var s float64
		for _, q := range prob {
			if q <= ref {
				s += q
			}
		}
		return math.Min(1, s)
	}
	return pOf(basePass), math.Min(pOf(lo), pOf(hi))
}

func lchoose(n, k int) float64 {
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(k + 1))
	c, _ := math.Lgamma(float64(n - k + 1))
	return a - b - c
}
