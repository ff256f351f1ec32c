package flat

import "math"

// Outcome is a three-way leak verdict: the slope's interval lies wholly
// above the budget (Leaking), wholly at or below it (Flat), or straddles
// it (Undecided: more cycles would narrow it).
type Outcome string

// Outcomes.
const (
	Flat      Outcome = "flat"
	Leaking   Outcome = "leak"
	Undecided Outcome = "undecided"
)

// AutoWarmup as TrendOptions.Warmup finds where a warm-up ends from the
// data (ChangePoint) instead of dropping a fixed number of cycles: growth
// that flattens is cut off and only the segment after the break is
// judged; growth that keeps its slope is judged whole.
const AutoWarmup = -2

// minWarmup is the fewest values a warm-up segment found by ChangePoint
// has (a line through two points has no residual to weigh).
const minWarmup = 3

// ChangePointResult is the best two-segment fit of a series.
type ChangePointResult struct {
	// Break is the index (into the series given) of the first value after
	// the warm-up; 0 when no warm-up was found.
	Break int
	// Before and After are the least-squares slopes of the two segments
	// (After = the whole series' slope when Break is 0).
	Before, After float64
}

// ChangePoint fits two independent least-squares lines (a warm-up and
// what follows it) at every break leaving at least minWarmup values
// before and minAfter after, and keeps the break with the smallest total
// squared error when it is a warm-up: the two-line model beats one line
// by the Bayesian information criterion (it pays for its three extra
// parameters: second line and break) and the segment after the break is
// flatter than the whole series (growth that flattens, or a one-off
// step). A steady leak fits one line about as well as two, so it is
// judged whole; a leak that starts or speeds up mid-run has a steeper
// second segment, which is no warm-up either. An exact series (zero
// squared error) with a step breaks at the step.
func ChangePoint(y []float64, minAfter int) ChangePointResult {
	n := len(y)
	whole := lineFit(y, 0, n)
	res := ChangePointResult{After: whole.slope}
	if n < minWarmup+minAfter || minAfter < 3 {
		return res
	}
	best, bestSSE := 0, math.Inf(1)
	var bestA, bestB line
	for b := minWarmup; b <= n-minAfter; b++ {
		a, c := lineFit(y, 0, b), lineFit(y, b, n)
		if sse := a.sse + c.sse; best == 0 || sse < bestSSE-1e-9*math.Max(1, bestSSE) {
			best, bestSSE, bestA, bestB = b, sse, a, c
		}
	}
	if best == 0 {
		return res
	}
	// BIC = n ln(SSE/n) + k ln n; a floor on SSE keeps exact series finite
	// (an exact two-segment fit of a non-exact one-line series wins).
	eps := 1e-12 * (1 + meanSq(y))
	bic1 := float64(n)*math.Log((whole.sse+eps)/float64(n)) + 2*math.Log(float64(n))
	bic2 := float64(n)*math.Log((bestSSE+eps)/float64(n)) + 5*math.Log(float64(n))
	if bic2 >= bic1 || bestB.slope >= whole.slope {
		return res
	}
	return ChangePointResult{Break: best, Before: bestA.slope, After: bestB.slope}
}

type line struct{ slope, sse float64 }

// lineFit is the least-squares line through y[from:to] against the index.
func lineFit(y []float64, from, to int) line {
	n := float64(to - from)
	var mx, my float64
	for i := from; i < to; i++ {
		mx += float64(i)
		my += y[i]
	}
	mx /= n
	my /= n
	var sxx, sxy float64
	for i := from; i < to; i++ {
		dx := float64(i) - mx
		sxx += dx * dx
		sxy += dx * (y[i] - my)
	}
	var b float64
	if sxx > 0 {
		b = sxy / sxx
	}
	a := my - b*mx
	var sse float64
	for i := from; i < to; i++ {
		r := y[i] - (a + b*float64(i))
		sse += r * r
	}
	return line{slope: b, sse: sse}
}

func meanSq(y []float64) float64 {
	var s float64
	for _, v := range y {
		s += v * v
	}
	return s / float64(max(len(y), 1))
}
