package probe

import "github.com/gitchaos/gitchaos/harness/result"

// CycleSeries wraps per-cycle values as a result series (x: cycle index).
func CycleSeries(metric string, values []float64) result.Series {
	s := result.Series{Name: metric + " per cycle", Metric: metric, XUnit: "cycle"}
	for i, v := range values {
		s.Points = append(s.Points, result.Point{X: float64(i), Y: v})
	}
	return s
}
