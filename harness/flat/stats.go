package flat

import (
	"math"
	"sort"
)

// Fit is one slope estimate with its confidence interval:
// y = Intercept + Slope*x, Slope in [Low, High] at the chosen level.
type Fit struct {
	Slope     float64 `json:"slope"`
	Intercept float64 `json:"intercept"`
	Low       float64 `json:"low"`
	High      float64 `json:"high"`
}

// leastSquares fits y = a + b*x by ordinary least squares; the slope's
// interval is b ± t(1-(1-level)/2, n-2) * SE(b). It needs n >= 3.
func leastSquares(x, y []float64, level float64) Fit {
	n := float64(len(x))
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx /= n
	my /= n
	var sxx, sxy float64
	for i := range x {
		dx := x[i] - mx
		sxx += dx * dx
		sxy += dx * (y[i] - my)
	}
	b := sxy / sxx
	a := my - b*mx
	var sse float64
	for i := range x {
		r := y[i] - (a + b*x[i])
		sse += r * r
	}
	se := math.Sqrt(sse / (n - 2) / sxx)
	t := tQuantile(1-(1-level)/2, n-2)
	return Fit{Slope: b, Intercept: a, Low: b - t*se, High: b + t*se}
}

// theilSen fits the median of all pairwise slopes (Sen 1968) with the
// standard rank-based interval: with N pairwise slopes sorted ascending and
// C = z * sqrt(Var(S)) (Kendall's S, variance corrected for ties in y),
// the bounds are the slopes of rank floor((N-C)/2) and ceil((N+C)/2)+1
// (Gilbert 1987, §16.4), clamped to [1, N]. The intercept is
// median(y - slope*x). Deterministic: no resampling.
func theilSen(x, y []float64, level float64) Fit {
	n := len(x)
	slopes := make([]float64, 0, n*(n-1)/2)
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			if x[j] == x[i] {
				continue
			}
			slopes = append(slopes, (y[j]-y[i])/(x[j]-x[i]))
		}
	}
	sort.Float64s(slopes)
	b := median(slopes)
	res := make([]float64, n)
	for i := range x {
		res[i] = y[i] - b*x[i]
	}
	sort.Float64s(res)
	a := median(res)

	N := float64(len(slopes))
	nf := float64(n)
	v := nf * (nf - 1) * (2*nf + 5)
	for _, t := range tieGroups(y) {
		tf := float64(t)
		v -= tf * (tf - 1) * (2*tf + 5)
	}
	v /= 18
	if v < 0 {
		v = 0
	}
	c := zQuantile(1-(1-level)/2) * math.Sqrt(v)
	lo := int(math.Floor((N - c) / 2))
	hi := int(math.Ceil((N+c)/2)) + 1
	lo = min(max(lo, 1), len(slopes))
	hi = min(max(hi, 1), len(slopes))
	return Fit{Slope: b, Intercept: a, Low: slopes[lo-1], High: slopes[hi-1]}
}

// tieGroups returns the sizes (>1) of groups of equal values.
func tieGroups(y []float64) []int {
	s := append([]float64(nil), y...)
	sort.Float64s(s)
	var groups []int
	for i := 0; i < len(s); {
		j := i + 1
		for j < len(s) && s[j] == s[i] {
			j++
		}
		if j-i > 1 {
			groups = append(groups, j-i)
		}
		i = j
	}
	return groups
}

// median of a sorted slice.
func median(s []float64) float64 {
	n := len(s)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// zQuantile is the standard normal quantile.
func zQuantile(p float64) float64 { return math.Sqrt2 * math.Erfinv(2*p-1) }

// tQuantile is the quantile of Student's t with df degrees of freedom,
// found by bisection on the CDF (regularized incomplete beta).
func tQuantile(p, df float64) float64 {
	if p == 0.5 {
		return 0
	}
	if p < 0.5 {
		return -tQuantile(1-p, df)
	}
	lo, hi := 0.0, 1.0
	for tCDF(hi, df) < p {
		hi *= 2
		if hi > 1e12 {
			return math.Inf(1)
		}
	}
	for range 200 {
		mid := (lo + hi) / 2
		if tCDF(mid, df) < p {
			lo = mid
		} else {
			hi = mid
		}
		if hi-lo < 1e-12*hi {
			break
		}
	}
	return (lo + hi) / 2
}

// tCDF is P(T <= t) for t >= 0.
func tCDF(t, df float64) float64 {
	x := df / (df + t*t)
	return 1 - 0.5*regIncBeta(df/2, 0.5, x)
}

// regIncBeta is the regularized incomplete beta I_x(a, b) (Numerical
// Recipes' continued fraction).
func regIncBeta(a, b, x float64) float64 {
	if x <= 0 {
		return 0
	}
	if x >= 1 {
		return 1
	}
	la, _ := math.Lgamma(a + b)
	lb, _ := math.Lgamma(a)
	lc, _ := math.Lgamma(b)
	front := math.Exp(la - lb - lc + a*math.Log(x) + b*math.Log(1-x))
	if x < (a+1)/(a+b+2) {
		return front * betaCF(a, b, x) / a
	}
	return 1 - front*betaCF(b, a, 1-x)/b
}

func betaCF(a, b, x float64) float64 {
	const eps, tiny = 1e-15, 1e-300
	qab, qap, qam := a+b, a+1, a-1
	c, d := 1.0, 1-qab*x/qap
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	h := d
	for m := 1; m <= 300; m++ {
		mf := float64(m)
		m2 := 2 * mf
		aa := mf * (b - mf) * x / ((qam + m2) * (a + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		h *= d * c
		aa = -(a + mf) * (qab + mf) * x / ((a + m2) * (qap + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < eps {
			break
		}
	}
	return h
}
