package compare

import (
	"math"
	"slices"
	"testing"
)

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.6g, want %.6g (±%g)", what, got, want, tol)
	}
}

// TestMannWhitneyKnownAnswers: U and p computed by hand. For 3 runs a
// side the 20 splits give U = 0..9 with counts 1,1,2,3,3,3,3,2,1,1.
func TestMannWhitneyKnownAnswers(t *testing.T) {
	for _, c := range []struct {
		name       string
		base, head []float64
		u, p, minP float64
		exact      bool
	}{
		{"3v3 separated", []float64{1, 2, 3}, []float64{4, 5, 6}, 9, 2.0 / 20, 2.0 / 20, true},
		{"3v3 reversed", []float64{4, 5, 6}, []float64{1, 2, 3}, 0, 2.0 / 20, 2.0 / 20, true},
		{"3v3 interleaved", []float64{1, 3, 5}, []float64{2, 4, 6}, 6, 14.0 / 20, 2.0 / 20, true},
		{"5v5 separated", []float64{1, 2, 3, 4, 5}, []float64{6, 7, 8, 9, 10}, 25, 2.0 / 252, 2.0 / 252, true},
		// Ties: constant slopes on each side. Conditional on the ties only
		// the two fully separated splits are as extreme: 2/20, where the
		// normal approximation would say 0.047.
		{"3v3 all tied per side", []float64{0, 0, 0}, []float64{8, 8, 8}, 9, 2.0 / 20, 2.0 / 20, true},
		{"all equal", []float64{0, 0, 0}, []float64{0, 0, 0}, 4.5, 1, 1, true},
		// 25 v 25: the normal approximation. Head j = j+0.5 beats base
		// 1..j: U = Σj = 325, z = (12.5−0.5)/√(25·25·51/12).
		{"25v25 normal", seq(1, 25, 0), seq(1, 25, 0.5), 325, 0.8158901548607471, math.Erfc((312.5 - 0.5) / math.Sqrt(25*25*51/12.0) / math.Sqrt2), false},
		// Ties under the normal approximation: 0/1 values, tie-corrected
		// variance (Σt³−t over groups of 30 and 20).
		{"25v25 normal ties", append(rep(0, 20), rep(1, 5)...), append(rep(0, 10), rep(1, 15)...), 437.5, 0.00442295199887756, -1, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := MannWhitney(c.base, c.head)
			near(t, "U", r.U, c.u, 1e-9)
			near(t, "p", r.P, c.p, 1e-9)
			if c.minP >= 0 {
				near(t, "min p", r.MinP, c.minP, 1e-12)
			}
			if r.Exact != c.exact {
				t.Errorf("exact = %v, want %v", r.Exact, c.exact)
			}
		})
	}
}

func seq(from, to int, plus float64) []float64 {
	var out []float64
	for i := from; i <= to; i++ {
		out = append(out, float64(i)+plus)
	}
	return out
}

func rep(v float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// TestHodgesLehmann: the median of pairwise differences and the Moses
// interval. For 10 runs a side the two-sided 5% critical U is 23 (the
// published table), so the interval is the 24th smallest and largest of
// the 100 differences.
func TestHodgesLehmann(t *testing.T) {
	if c := mosesCount(10, 10, 0.025); c != 23 {
		t.Errorf("mosesCount(10, 10, 0.025) = %d, want 23", c)
	}
	if c := mosesCount(5, 5, 0.025); c != 2 {
		t.Errorf("mosesCount(5, 5, 0.025) = %d, want 2", c)
	}
	if c := mosesCount(3, 3, 0.025); c != -1 {
		t.Errorf("mosesCount(3, 3, 0.025) = %d, want -1 (P(U=0) = 0.05)", c)
	}
	s := HodgesLehmann([]float64{1, 2, 3}, []float64{4, 5, 6}, 0.95)
	// differences 1,2,2,3,3,3,4,4,5: median 3; too few runs: the range.
	if s.Estimate != 3 || s.Low != 1 || s.High != 5 {
		t.Errorf("HL 3v3 = %+v, want 3 in [1, 5]", s)
	}
	s = HodgesLehmann(seq(1, 10, 0), seq(1, 10, 7), 0.95)
	// differences 7 + (j − i), i, j in 1..10: 7+k occurs 10−|k| times,
	// cumulated from k = −9: 1, 3, 6, 10, 15, 21, 28, so the 24th smallest
	// is 7−3 = 4 and the 24th largest 7+3 = 10.
	if s.Estimate != 7 || s.Low != 4 || s.High != 10 {
		t.Errorf("HL 10v10 shift 7 = %+v, want 7 in [4, 10]", s)
	}
}

func TestFisher(t *testing.T) {
	p, minP := Fisher(5, 0, 0, 5)
	near(t, "p 5/0 v 0/5", p, 2.0/252, 1e-12)
	near(t, "min p", minP, 2.0/252, 1e-12)
	// Fisher's tea tasting: [[3,1],[1,3]], two-sided 34/70.
	p, minP = Fisher(3, 1, 1, 3)
	near(t, "p tea", p, 34.0/70, 1e-12)
	near(t, "min p tea", minP, 2.0/70, 1e-12)
	if p, _ := Fisher(3, 0, 3, 0); p != 1 {
		t.Errorf("no failures anywhere: p %v, want 1", p)
	}
}

func TestHolm(t *testing.T) {
	got := Holm([]float64{0.01, 0.04, 0.03, 0.005})
	want := []float64{0.03, 0.06, 0.06, 0.02}
	for i := range want {
		near(t, "holm", got[i], want[i], 1e-12)
	}
	if got := Holm(nil); len(got) != 0 {
		t.Errorf("Holm(nil) = %v", got)
	}
	if got := Holm([]float64{0.5, 0.9}); !slices.Equal(got, []float64{1, 1}) {
		t.Errorf("Holm caps at 1: %v", got)
	}
}

func TestDirectionAndFloor(t *testing.T) {
	for budget, want := range map[string]Direction{
		"<= 1.50 s":                        HigherIsWorse,
		"CI <= 0 fds/cycle":                HigherIsWorse,
		"lower bound <= 64 KiB/cycle":      HigherIsWorse,
		">= 10 calls answered":             LowerIsWorse,
		"in_flight == 0":                   AwayIsWorse,
		"every scope on its newest commit": NoDirection,
	} {
		if got := DirectionOf(budget); got != want {
			t.Errorf("DirectionOf(%q) = %q, want %q", budget, got, want)
		}
	}
	for unit, want := range map[string]float64{
		"s": 0.01, "bytes": 64 << 10, "bytes/cycle": 64 << 10, "fds/cycle": 1, "count": 1, "goroutines/round": 1, "": 0, "KiB": 64,
	} {
		if got := Floor(unit); got != want {
			t.Errorf("Floor(%q) = %v, want %v", unit, got, want)
		}
	}
	if n := minExactRuns(0.05/20, 1000); n != 6 {
		t.Errorf("minExactRuns(0.05/20) = %d, want 6 (2/C(12,6) = 0.0022)", n)
	}
	if n := minExactRuns(0.05/45, 1000); n != 7 {
		t.Errorf("minExactRuns(0.05/45) = %d, want 7 (2/C(14,7) = 0.00058)", n)
	}
}
