package reports

import (
	"bytes"
	"cmp"
	"fmt"
	"html"
	"image/color"
	"math"
	"slices"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/gitchaos/gitchaos/harness/result"
)

// MaxChartPoints is the most points drawn per series; longer series are
// thinned to the minimum and maximum of each of MaxChartPoints/2 buckets.
const MaxChartPoints = 2000

// Chart size in points (CSS scales it to the page width).
const (
	chartWidth  = 7.2 * vg.Inch
	chartHeight = 3.2 * vg.Inch
)

// Colors of chart elements. The browser test looks for colorData and
// colorFit in screenshots, so the page's CSS must not use them.
var (
	colorData   = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}  // blue
	colorFit    = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}  // red
	colorBudget = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}  // green
	colorWarmup = color.NRGBA{R: 0x80, G: 0x80, B: 0x80, A: 0x30} // translucent grey
	colorHist   = color.RGBA{R: 0x9e, G: 0xc5, B: 0xe8, A: 0xff}  // light blue
)

// chartKind is how a series is drawn.
type chartKind int

const (
	kindTime chartKind = iota
	kindCycle
	kindProgress
	kindHistogram
)

func kindOf(s *result.Series) chartKind {
	switch {
	case s.Metric == MetricTimeoutOvershoot:
		return kindHistogram
	case s.XUnit == XUnitCycle:
		return kindCycle
	case s.Metric == MetricScopesServed:
		return kindProgress
	}
	return kindTime
}

// chart is one rendered chart of a scenario.
type chart struct {
	ID      string // HTML anchor
	Title   string
	Kind    string // per-cycle, progress, histogram, time
	SVG     string // inline <svg> element
	Caption string
	Err     string // rendering failed: why
	Checks  []result.Check
	Failed  bool // a check backed by this series failed
	// Legend is drawn in HTML next to the SVG, not inside it, so no label
	// is ever cut by the SVG's edge whatever font the browser uses.
	Legend []legendItem
}

// legendItem is one legend entry: a swatch of Color drawn as Style
// ("line", "dash", "points", "band", "bar") and its label.
type legendItem struct {
	Label string
	Color string // CSS color
	Style string
}

func cssColor(c color.Color) string {
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	if n.A == 0xff {
		return fmt.Sprintf("#%02x%02x%02x", n.R, n.G, n.B)
	}
	// #rrggbbaa: html/template lets hex colors into a style attribute
	// (it blanks rgba(...)).
	return fmt.Sprintf("#%02x%02x%02x%02x", n.R, n.G, n.B, n.A)
}

// window is a shaded x interval.
type window struct {
	From, To float64 // To is +Inf while open
	Label    string
}

// renderCharts draws every series of s.
func renderCharts(s *result.Scenario, scenarioID string) []chart {
	windows := faultWindows(s)
	out := make([]chart, 0, len(s.Series))
	for i := range s.Series {
		ser := &s.Series[i]
		ch := chart{
			ID:    fmt.Sprintf("%s-chart-%d", scenarioID, i),
			Title: ser.Name,
		}
		for _, c := range s.Checks {
			if c.Series != "" && c.Series == ser.Name {
				ch.Checks = append(ch.Checks, c)
				if v := checkVerdict(c.Verdict); v == result.Fail || v == result.Error {
					ch.Failed = true
				}
			}
		}
		var p *plot.Plot
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("plot panicked: %v", r)
				}
			}()
			switch kindOf(ser) {
			case kindHistogram:
				ch.Kind = "histogram"
				p, ch.Caption, ch.Legend, err = histogramPlot(ser, ch.Checks)
			case kindCycle:
				ch.Kind = "per-cycle"
				p, ch.Caption, ch.Legend, err = cyclePlot(ser)
			case kindProgress:
				ch.Kind = "progress"
				p, ch.Caption, ch.Legend, err = timePlot(ser, windows, true)
			default:
				ch.Kind = "time"
				p, ch.Caption, ch.Legend, err = timePlot(ser, windows, false)
			}
			if err == nil {
				ch.SVG, err = renderSVG(p, ser.Name)
			}
		}()
		if err != nil {
			ch.Err = err.Error()
			ch.SVG = ""
		}
		out = append(out, ch)
	}
	return out
}

// newPlot is a plot with sans fonts, a grid and the legend top left.
func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	sans := func(size vg.Length) font.Font {
		return font.Font{Typeface: "Liberation", Variant: "Sans", Size: size}
	}
	p.Title.Text = title
	p.Title.TextStyle.Font = sans(11)
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = sans(10)
		a.Tick.Label.Font = sans(9)
	}
	p.Legend.TextStyle.Font = sans(9)
	g := plotter.NewGrid()
	g.Vertical.Color = color.Gray{Y: 0xe0}
	g.Horizontal.Color = color.Gray{Y: 0xe0}
	p.Add(g)
	return p
}

// renderSVG draws p as an <svg> element for inlining in HTML.
func renderSVG(p *plot.Plot, label string) (string, error) {
	c := vgsvg.New(chartWidth, chartHeight)
	dc := draw.New(c)
	p.Legend = plot.NewLegend() // the legend is HTML (chart.Legend)
	// A margin on every side: gonum sets the title and the y label flush
	// with the edge, where their line boxes overhang it by a pixel or two.
	m := vg.Points(4)
	dc = draw.Crop(dc, m, -m, m, -m)
	p.Draw(dc)
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return "", fmt.Errorf("render svg: %w", err)
	}
	s := buf.String()
	i := strings.Index(s, "<svg")
	if i < 0 {
		return "", fmt.Errorf("render svg: no <svg> element in output")
	}
	// Drop the XML prolog (not allowed inline) and label it for readers.
	return `<svg role="img" aria-label="` + html.EscapeString(label) + `"` + s[i+len("<svg"):], nil
}

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

// faultPalette colors fault kinds: translucent, none of the data, fit or
// budget colors.
var faultPalette = []color.NRGBA{
	{R: 0xff, G: 0x7f, B: 0x0e, A: 0x2a}, // orange
	{R: 0x94, G: 0x67, B: 0xbd, A: 0x2a}, // purple
	{R: 0x8c, G: 0x56, B: 0x4b, A: 0x2a}, // brown
	{R: 0xe3, G: 0x77, B: 0xc2, A: 0x2a}, // pink
	{R: 0xbc, G: 0xbd, B: 0x22, A: 0x2a}, // olive
	{R: 0x17, G: 0xbe, B: 0xcf, A: 0x2a}, // cyan
}

// faultKind is the windows of one fault kind, merged where they overlap.
type faultKind struct {
	name   string
	count  int      // windows before merging
	merged []window // sorted, disjoint
}

// faultKinds groups windows by fault kind (the label's first word), in
// order of first appearance, and merges overlapping windows of a kind.
func faultKinds(ws []window) []faultKind {
	var out []faultKind
	idx := map[string]int{}
	for _, w := range ws {
		name, _, _ := strings.Cut(strings.TrimSpace(w.Label), " ")
		if name == "" {
			name = "fault"
		}
		i, ok := idx[name]
		if !ok {
			i = len(out)
			idx[name] = i
			out = append(out, faultKind{name: name})
		}
		out[i].count++
		out[i].merged = append(out[i].merged, w)
	}
	for i := range out {
		ms := out[i].merged
		slices.SortStableFunc(ms, func(a, b window) int { return cmp.Compare(a.From, b.From) })
		var merged []window
		for _, w := range ms {
			if n := len(merged); n > 0 && w.From <= merged[n-1].To {
				merged[n-1].To = math.Max(merged[n-1].To, w.To)
				continue
			}
			merged = append(merged, w)
		}
		out[i].merged = merged
	}
	return out
}

func describeWindows(ws []window, max int) string {
	parts := make([]string, 0, len(ws))
	for i, w := range ws {
		if i == max {
			parts = append(parts, fmt.Sprintf("and %d more", len(ws)-max))
			break
		}
		to := "end"
		if !math.IsInf(w.To, 1) {
			to = result.FormatValue(w.To, "s")
		}
		parts = append(parts, fmt.Sprintf("%s %s–%s", w.Label, result.FormatValue(w.From, "s"), to))
	}
	return strings.Join(parts, "; ")
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

// faultWindows derives the shaded fault windows of s (see the package doc).
func faultWindows(s *result.Scenario) []window {
	type open struct {
		key string
		w   window
	}
	var (
		opened []open
		done   []window
	)
	closeKey := func(key string, at float64) {
		for i, o := range opened {
			if o.key == key {
				o.w.To = at
				done = append(done, o.w)
				opened = slices.Delete(opened, i, i+1)
				return
			}
		}
		if len(opened) > 0 { // no match: close the oldest
			o := opened[0]
			o.w.To = at
			done = append(done, o.w)
			opened = opened[1:]
		}
	}
	evs := slices.Clone(s.Faults)
	slices.SortStableFunc(evs, func(a, b result.FaultEvent) int { return cmp.Compare(float64(a.At), float64(b.At)) })
	for _, e := range evs {
		at := float64(e.At)
		if !isFinite(at) {
			continue
		}
		k := e.Fault + " " + e.Host
		if e.Repo != "" {
			k += "/" + e.Repo
		}
		switch e.Action {
		case result.FaultInject:
			opened = append(opened, open{key: k, w: window{From: at, To: math.Inf(1), Label: k}})
		case result.FaultRecover:
			closeKey(k, at)
		}
	}
	for _, o := range opened {
		done = append(done, o.w)
	}
	slices.SortStableFunc(done, func(a, b window) int { return cmp.Compare(a.From, b.From) })
	return done
}

// shade fills x intervals over the full height of the data area, and,
// when lanes > 0, a solid lane for this kind along its top (lane i of
// lanes), so short or pale windows stay visible.
type shade struct {
	windows []window
	color   color.Color
	lane    int
	lanes   int
}

// laneHeight is the height of one fault lane along the top of the plot.
const laneHeight = 5

// Plot implements plot.Plotter.
func (s *shade) Plot(c draw.Canvas, p *plot.Plot) {
	solid := s.color
	if nc, ok := s.color.(color.NRGBA); ok {
		nc.A = 0xff
		solid = nc
	}
	for _, w := range s.windows {
		to := w.To
		if math.IsInf(to, 1) {
			to = p.X.Max
		}
		x0 := c.X(p.X.Norm(math.Max(w.From, p.X.Min)))
		x1 := c.X(p.X.Norm(math.Min(to, p.X.Max)))
		if x1-x0 < vg.Points(1) {
			x1 = x0 + vg.Points(1) // an instant fault still shows
		}
		c.FillPolygon(s.color, []vg.Point{
			{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y},
		})
		if s.lanes > 0 {
			top := c.Max.Y - vg.Points(float64(laneHeight*s.lane))
			c.FillPolygon(solid, []vg.Point{
				{X: x0, Y: top - vg.Points(laneHeight-1)}, {X: x1, Y: top - vg.Points(laneHeight-1)}, {X: x1, Y: top}, {X: x0, Y: top},
			})
		}
	}
}
