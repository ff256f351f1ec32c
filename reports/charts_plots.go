package reports

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/gitchaos/gitchaos/harness/result"
)

// cyclePlot draws a per-cycle series with its fit and budget.
func cyclePlot(s *result.Series) (*plot.Plot, string, []legendItem, error) {
	var leg []legendItem
	xys := finite(s.Points, false)
	if len(xys) == 0 {
		return nil, "", nil, fmt.Errorf("series %q has no finite points", s.Name)
	}
	div, ylabel := axisScale(s.Unit, maxAbsY(xys))
	per := s.Per
	if per == "" {
		per = "cycle"
	}
	p := newPlot(s.Name, per, ylabel)
	drawn, thinned := thin(xys)
	fit := s.Fit
	if fit != nil && !(isFinite(fit.Slope) && isFinite(fit.Intercept) && isFinite(fit.FromX) && isFinite(fit.ToX)) {
		fit = nil
	}
	if fit != nil && fit.FromX > xys[0].X {
		p.Add(&shade{windows: []window{{From: xys[0].X, To: fit.FromX, Label: "warm-up"}}, color: colorWarmup})
		leg = append(leg, legendItem{Label: "warm-up (not fitted)", Color: cssColor(colorWarmup), Style: "band"})
	}
	line, pts, err := plotter.NewLinePoints(scaled(drawn, div))
	if err != nil {
		return nil, "", nil, fmt.Errorf("series %q: %w", s.Name, err)
	}
	line.Color = colorData
	pts.Color = colorData
	pts.Shape = draw.CircleGlyph{}
	pts.Radius = vg.Points(2)
	p.Add(line, pts)
	leg = append(leg, legendItem{Label: orDash(s.Metric), Color: cssColor(colorData), Style: "points"})

	var caption strings.Builder
	fmt.Fprintf(&caption, "%d %ss, %s from %s to %s.", len(xys), per, orDash(s.Metric),
		result.FormatValue(xys[0].Y, s.Unit), result.FormatValue(xys[len(xys)-1].Y, s.Unit))
	if thinned {
		fmt.Fprintf(&caption, " Drawn thinned to %d points.", len(drawn))
	}
	if fit != nil {
		at := func(x float64) float64 { return fit.Intercept + fit.Slope*x }
		fl, err := plotter.NewLine(plotter.XYs{{X: fit.FromX, Y: at(fit.FromX) / div}, {X: fit.ToX, Y: at(fit.ToX) / div}})
		if err != nil {
			return nil, "", nil, fmt.Errorf("series %q fit: %w", s.Name, err)
		}
		fl.Color = colorFit
		fl.Width = vg.Points(2)
		p.Add(fl)
		perCycle := s.Unit + "/" + per
		if s.Unit == "" {
			perCycle = "/" + per
		}
		leg = append(leg, legendItem{Label: "fit " + result.FormatSigned(fit.Slope, perCycle), Color: cssColor(colorFit), Style: "line"})
		if isFinite(fit.Budget) {
			bl, err := plotter.NewLine(plotter.XYs{
				{X: fit.FromX, Y: at(fit.FromX) / div},
				{X: fit.ToX, Y: (at(fit.FromX) + fit.Budget*(fit.ToX-fit.FromX)) / div},
			})
			if err != nil {
				return nil, "", nil, fmt.Errorf("series %q budget: %w", s.Name, err)
			}
			bl.Color = colorBudget
			bl.Width = vg.Points(1.5)
			bl.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			p.Add(bl)
			leg = append(leg, legendItem{Label: "budget " + result.FormatSigned(fit.Budget, perCycle), Color: cssColor(colorBudget), Style: "dash"})
		}
		method := fit.Method
		if method == "" {
			method = "fit"
		}
		fmt.Fprintf(&caption, " Slope (%s over %ss %g–%g): %s, CI [%s, %s]; budget %s.",
			method, per, fit.FromX, fit.ToX, result.FormatSigned(fit.Slope, perCycle),
			result.FormatSigned(fit.Low, perCycle), result.FormatSigned(fit.High, perCycle), result.FormatSigned(fit.Budget, perCycle))
		if fit.Low > fit.Budget {
			caption.WriteString(" The whole CI lies above the budget.")
		}
	}
	return p, caption.String(), leg, nil
}

// timePlot draws a series over seconds with fault windows as translucent
// bands, one color and one legend entry per fault kind, overlapping
// windows of a kind merged so bands never stack into an opaque block, and
// a solid lane per kind along the top of the data area; the series is
// drawn over them. Progress curves are drawn as steps from zero.
func timePlot(s *result.Series, windows []window, progress bool) (*plot.Plot, string, []legendItem, error) {
	xys := finite(s.Points, false)
	if len(xys) == 0 {
		return nil, "", nil, fmt.Errorf("series %q has no finite points", s.Name)
	}
	div, ylabel := axisScale(s.Unit, maxAbsY(xys))
	overTime := s.XUnit == "" || s.XUnit == XUnitSeconds
	xlabel := "seconds since scenario start"
	xdiv := 1.0
	if !overTime {
		xlabel = s.XUnit
		windows = nil // fault windows are in seconds
	} else { // long runs (soaks) read better in minutes or hours
		switch span := xys[len(xys)-1].X - xys[0].X; {
		case span >= 3*3600:
			xdiv, xlabel = 3600, "hours since scenario start"
		case span >= 15*60:
			xdiv, xlabel = 60, "minutes since scenario start"
		}
	}
	p := newPlot(s.Name, xlabel, ylabel)
	drawn, thinned := thin(xys)
	var leg []legendItem
	xmin, xmax := xys[0].X/xdiv, xys[len(xys)-1].X/xdiv
	kinds := faultKinds(windows)
	for i, k := range kinds {
		col := faultPalette[i%len(faultPalette)]
		drawnW := make([]window, len(k.merged))
		for j, w := range k.merged {
			drawnW[j] = window{From: w.From / xdiv, To: w.To / xdiv, Label: w.Label}
			xmin = math.Min(xmin, drawnW[j].From)
			if !math.IsInf(w.To, 1) {
				xmax = math.Max(xmax, drawnW[j].To)
			}
		}
		p.Add(&shade{windows: drawnW, color: col, lane: i, lanes: len(kinds)})
		label := fmt.Sprintf("%s (%s)", k.name, plural(k.count, "window"))
		leg = append(leg, legendItem{Label: label, Color: cssColor(col), Style: "band"})
	}
	pts := scaledXY(drawn, xdiv, div)
	if progress && xmax > pts[len(pts)-1].X {
		// A count holds its last value to the end of what is shown (a
		// boot that served nothing is a line along zero, not one point).
		pts = append(pts, plotter.XY{X: xmax, Y: pts[len(pts)-1].Y})
	}
	line, err := plotter.NewLine(pts)
	if err != nil {
		return nil, "", nil, fmt.Errorf("series %q: %w", s.Name, err)
	}
	line.Color = colorData
	line.Width = vg.Points(1.5)
	if progress {
		line.StepStyle = plotter.PostStep
		line.Width = vg.Points(2)
		p.Y.Min = 0
		p.Y.Max = math.Max(p.Y.Max, 1)
	}
	p.Add(line)
	leg = append([]legendItem{{Label: orDash(s.Metric), Color: cssColor(colorData), Style: "line"}}, leg...)
	p.X.Min = math.Min(p.X.Min, xmin)
	p.X.Max = math.Max(p.X.Max, xmax)

	var caption strings.Builder
	first, last := xys[0], xys[len(xys)-1]
	xText := func(x float64) string {
		if overTime {
			return result.FormatValue(x, "s")
		}
		return fmt.Sprintf("%s %g", s.XUnit, x)
	}
	if progress {
		peak := slices.MaxFunc(xys, func(a, b plotter.XY) int { return cmp.Compare(a.Y, b.Y) })
		reached := peak
		for _, p := range xys {
			if p.Y >= peak.Y {
				reached = p
				break
			}
		}
		switch {
		case peak.Y == 0:
			fmt.Fprintf(&caption, "No %s served from %s to %s.", orDash(s.Unit), xText(first.X), xText(xmax*xdiv))
		case peak.Y == last.Y:
			fmt.Fprintf(&caption, "%s served: %g, all by %s.", orDash(s.Unit), last.Y, xText(reached.X))
		default:
			fmt.Fprintf(&caption, "%s served: %g after the last change at %s; peak %g first reached at %s.",
				orDash(s.Unit), last.Y, xText(last.X), peak.Y, xText(reached.X))
		}
	} else {
		ys := make([]float64, len(xys))
		for i, p := range xys {
			ys[i] = p.Y
		}
		slices.Sort(ys)
		median := ys[(len(ys)-1)/2]
		if overTime {
			fmt.Fprintf(&caption, "%d samples over %s (%s to %s)", len(xys), result.FormatValue(last.X-first.X, "s"), xText(first.X), xText(last.X))
		} else {
			fmt.Fprintf(&caption, "%d points by %s (%g to %g)", len(xys), s.XUnit, first.X, last.X)
		}
		fmt.Fprintf(&caption, "; median %s, max %s, last %s.", result.FormatValue(median, s.Unit), result.FormatValue(ys[len(ys)-1], s.Unit), result.FormatValue(last.Y, s.Unit))
	}
	if thinned {
		fmt.Fprintf(&caption, " Drawn thinned to %d points.", len(drawn))
	}
	if len(windows) > 0 {
		fmt.Fprintf(&caption, " Shaded: %s.", describeWindows(windows, 8))
	}
	return p, caption.String(), leg, nil
}

// histogramPlot draws the distribution of a series' Y values.
func histogramPlot(s *result.Series, checks []result.Check) (*plot.Plot, string, []legendItem, error) {
	var leg []legendItem
	var vals plotter.Values
	for _, p := range s.Points {
		if isFinite(p.Y) {
			vals = append(vals, p.Y)
		}
	}
	if len(vals) == 0 {
		return nil, "", nil, fmt.Errorf("series %q has no finite values", s.Name)
	}
	sorted := slices.Clone([]float64(vals))
	slices.Sort(sorted)
	maxAbs := math.Max(math.Abs(sorted[0]), math.Abs(sorted[len(sorted)-1]))
	var limit *result.Check
	for i := range checks {
		if isFinite(checks[i].Limit) {
			limit = &checks[i]
			maxAbs = math.Max(maxAbs, math.Abs(checks[i].Limit))
			break
		}
	}
	div, unit := axisScale(s.Unit, maxAbs)
	xlabel := "overshoot"
	if unit != "" {
		xlabel += " (" + unit + ")"
	}
	p := newPlot(s.Name, xlabel, "operations")
	sv := make(plotter.Values, len(vals))
	for i, v := range vals {
		sv[i] = v / div
	}
	bins := int(math.Ceil(math.Sqrt(float64(len(vals)))))
	bins = max(1, min(bins, 30))
	h, err := plotter.NewHist(sv, bins)
	if err != nil {
		return nil, "", nil, fmt.Errorf("series %q: %w", s.Name, err)
	}
	h.FillColor = colorHist
	h.LineStyle.Color = colorData
	p.Add(h)
	leg = append(leg, legendItem{Label: fmt.Sprintf("%d operations", len(vals)), Color: cssColor(colorHist), Style: "bar"})
	p.Y.Min = 0
	q := func(f float64) float64 { // nearest rank
		i := int(math.Ceil(f*float64(len(sorted)))) - 1
		return sorted[max(0, min(len(sorted)-1, i))]
	}
	var caption strings.Builder
	fmt.Fprintf(&caption, "%d timed-out operations; overshoot past the deadline: min %s, median %s, p95 %s, max %s.",
		len(vals), result.FormatValue(sorted[0], s.Unit), result.FormatValue(q(0.5), s.Unit), result.FormatValue(q(0.95), s.Unit),
		result.FormatValue(sorted[len(sorted)-1], s.Unit))
	if limit != nil {
		top := 0.0
		for _, b := range h.Bins {
			top = math.Max(top, b.Weight)
		}
		bl, err := plotter.NewLine(plotter.XYs{{X: limit.Limit / div, Y: 0}, {X: limit.Limit / div, Y: top}})
		if err != nil {
			return nil, "", nil, fmt.Errorf("series %q budget: %w", s.Name, err)
		}
		bl.Color = colorFit
		bl.Width = vg.Points(2)
		bl.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		p.Add(bl)
		leg = append(leg, legendItem{Label: "budget " + orDash(limit.Budget), Color: cssColor(colorFit), Style: "dash"})
		fmt.Fprintf(&caption, " Budget %s (check %q: %s).", orDash(limit.Budget), limit.Name, limit.Verdict)
	}
	return p, caption.String(), leg, nil
}
