package reports

import (
	"math"
	"sort"

	"gonum.org/v1/plot/plotter"

	"github.com/gitchaos/gitchaos/harness/result"
)

// finite returns the points of s with finite coordinates, sorted by X
// unless keepOrder.
func finite(pts []result.Point, keepOrder bool) plotter.XYs {
	out := make(plotter.XYs, 0, len(pts))
	for _, p := range pts {
		if isFinite(p.X) && isFinite(p.Y) {
			out = append(out, plotter.XY{X: p.X, Y: p.Y})
		}
	}
	if !keepOrder {
		sort.SliceStable(out, func(i, j int) bool { return out[i].X < out[j].X })
	}
	return out
}

func isFinite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// thin keeps the min and max of each bucket when xys is too long to draw.
func thin(xys plotter.XYs) (plotter.XYs, bool) {
	if len(xys) <= MaxChartPoints {
		return xys, false
	}
	buckets := MaxChartPoints / 2
	out := make(plotter.XYs, 0, MaxChartPoints)
	for b := range buckets {
		lo, hi := b*len(xys)/buckets, (b+1)*len(xys)/buckets
		if lo >= hi {
			continue
		}
		mi, ma := lo, lo
		for i := lo; i < hi; i++ {
			if xys[i].Y < xys[mi].Y {
				mi = i
			}
			if xys[i].Y > xys[ma].Y {
				ma = i
			}
		}
		out = append(out, xys[min(mi, ma)])
		if mi != ma {
			out = append(out, xys[max(mi, ma)])
		}
	}
	return out, true
}

// axisScale picks a divisor and label for values of unit up to maxAbs.
func axisScale(unit string, maxAbs float64) (float64, string) {
	switch unit {
	case "bytes", "B":
		switch {
		case maxAbs >= 1<<30:
			return 1 << 30, "GiB"
		case maxAbs >= 1<<20:
			return 1 << 20, "MiB"
		case maxAbs >= 1<<10:
			return 1 << 10, "KiB"
		}
		return 1, "bytes"
	case "s":
		if maxAbs < 1 {
			return 1e-3, "ms"
		}
		return 1, "s"
	}
	return 1, unit
}

// scaledXY divides X by xdiv and Y by ydiv.
func scaledXY(xys plotter.XYs, xdiv, ydiv float64) plotter.XYs {
	out := make(plotter.XYs, len(xys))
	for i, p := range xys {
		out[i] = plotter.XY{X: p.X / xdiv, Y: p.Y / ydiv}
	}
	return out
}

func scaled(xys plotter.XYs, div float64) plotter.XYs {
	out := make(plotter.XYs, len(xys))
	for i, p := range xys {
		out[i] = plotter.XY{X: p.X, Y: p.Y / div}
	}
	return out
}

func maxAbsY(xys plotter.XYs) float64 {
	m := 0.0
	for _, p := range xys {
		m = math.Max(m, math.Abs(p.Y))
	}
	return m
}
