package flat

import (
	"fmt"
	"testing"
)

func TestExp(t *testing.T) {
	mk := func(n int, f func(i int) float64) []float64 {
		s := make([]float64, n)
		for i := range s {
			s[i] = f(i)
		}
		return s
	}
	const M = 1 << 20
	for _, p := range []int{2, 3, 4, 5, 6} {
		for _, off := range []int{0, 1, 2, 3} {
			s := mk(20, func(i int) float64 { return 10*M + float64((i+off)%p)*M })
			r, _ := Trend(s, TrendOptions{Metric: "heap_bytes"})
			r2, _ := Trend(s, TrendOptions{Metric: "heap_bytes", Floor: 6})
			fmt.Println(p, off, r.String(), "| LS", r.LeastSquares.Low, "|", r2.Leak)
		}
	}
	s := mk(20, func(i int) float64 { return 10 + map[bool]float64{true: 1}[i >= 11] })
	r, _ := Trend(s, TrendOptions{Metric: "fds"})
	fmt.Println(r, r.LeastSquares)
	s = mk(20, func(i int) float64 { return 10 + float64(i/6) })
	r, _ = Trend(s, TrendOptions{Metric: "fds"})
	fmt.Println(r, r.LeastSquares)
	s = mk(20, func(i int) float64 { return 10 + float64(i/2) })
	r, _ = Trend(s, TrendOptions{Metric: "fds"})
	fmt.Println(r, r.LeastSquares)
	fmt.Println(tQuantile(0.975, 15), tQuantile(0.975, 1), tQuantile(0.975, 1000))
}
