package reports

import (
	"bytes"
	"fmt"
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
	colorFault  = color.NRGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0x48} // translucent orange
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
				p, ch.Caption, err = histogramPlot(ser, ch.Checks)
			case kindCycle:
				ch.Kind = "per-cycle"
				p, ch.Caption, err = cyclePlot(ser)
			case kindProgress:
				ch.Kind = "progress"
				p, ch.Caption, err = timePlot(ser, windows, true)
			default:
				ch.Kind = "time"
				p, ch.Caption, err = timePlot(ser, windows, false)
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
	// The legend goes in a column right of the plot, where it never hides
	// data (gonum draws it inside the data area).
	leg := p.Legend
	p.Legend = plot.NewLegend()
	leg.Padding = vg.Points(3)
	if r := leg.Rectangle(dc); r.Max.X > r.Min.X {
		gap := vg.Points(8)
		w := r.Max.X - r.Min.X + gap
		leg.Left, leg.Top, leg.XOffs = true, true, 0
		if p.Title.Text != "" { // start level with the data area
			leg.YOffs = -(p.Title.TextStyle.Rectangle(p.Title.Text).Size().Y + p.Title.Padding + vg.Points(4))
		}
		leg.Draw(draw.Crop(dc, chartWidth-w+gap, 0, 0, 0))
		dc = draw.Crop(dc, 0, -w, 0, 0)
	}
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
	return `<svg role="img" aria-label="` + htmlAttr(label) + `"` + s[i+len("<svg"):], nil
}

func htmlAttr(s string) string {
	return strings.NewReplacer("&", "&amp;", `"`, "&quot;", "<", "&lt;", ">", "&gt;").Replace(s)
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
func cyclePlot(s *result.Series) (*plot.Plot, string, error) {
	xys := finite(s.Points, false)
	if len(xys) == 0 {
		return nil, "", fmt.Errorf("series %q has no finite points", s.Name)
	}
	div, ylabel := axisScale(s.Unit, maxAbsY(xys))
	p := newPlot(s.Name, "cycle", ylabel)
	drawn, thinned := thin(xys)
	fit := s.Fit
	if fit != nil && !(isFinite(fit.Slope) && isFinite(fit.Intercept) && isFinite(fit.FromX) && isFinite(fit.ToX)) {
		fit = nil
	}
	if fit != nil && fit.FromX > xys[0].X {
		p.Add(&shade{windows: []window{{From: xys[0].X, To: fit.FromX, Label: "warm-up"}}, color: colorWarmup})
	}
	line, pts, err := plotter.NewLinePoints(scaled(drawn, div))
	if err != nil {
		return nil, "", fmt.Errorf("series %q: %w", s.Name, err)
	}
	line.Color = colorData
	pts.Color = colorData
	pts.Shape = draw.CircleGlyph{}
	pts.Radius = vg.Points(2)
	p.Add(line, pts)
	p.Legend.Add(orDash(s.Metric), line, pts)

	var caption strings.Builder
	fmt.Fprintf(&caption, "%d cycles, %s from %s to %s.", len(xys), orDash(s.Metric),
		fmtValue(xys[0].Y, s.Unit), fmtValue(xys[len(xys)-1].Y, s.Unit))
	if thinned {
		fmt.Fprintf(&caption, " Drawn thinned to %d points.", len(drawn))
	}
	if fit != nil {
		at := func(x float64) float64 { return fit.Intercept + fit.Slope*x }
		fl, err := plotter.NewLine(plotter.XYs{{X: fit.FromX, Y: at(fit.FromX) / div}, {X: fit.ToX, Y: at(fit.ToX) / div}})
		if err != nil {
			return nil, "", fmt.Errorf("series %q fit: %w", s.Name, err)
		}
		fl.Color = colorFit
		fl.Width = vg.Points(2)
		p.Add(fl)
		perCycle := s.Unit + "/cycle"
		if s.Unit == "" {
			perCycle = "/cycle"
		}
		p.Legend.Add("fit "+fmtSigned(fit.Slope, perCycle), fl)
		if isFinite(fit.Budget) {
			bl, err := plotter.NewLine(plotter.XYs{
				{X: fit.FromX, Y: at(fit.FromX) / div},
				{X: fit.ToX, Y: (at(fit.FromX) + fit.Budget*(fit.ToX-fit.FromX)) / div},
			})
			if err != nil {
				return nil, "", fmt.Errorf("series %q budget: %w", s.Name, err)
			}
			bl.Color = colorBudget
			bl.Width = vg.Points(1.5)
			bl.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			p.Add(bl)
			p.Legend.Add("budget "+fmtSigned(fit.Budget, perCycle), bl)
		}
		method := fit.Method
		if method == "" {
			method = "fit"
		}
		fmt.Fprintf(&caption, " Slope (%s over cycles %g–%g): %s, CI [%s, %s]; budget %s.",
			method, fit.FromX, fit.ToX, fmtSigned(fit.Slope, perCycle),
			fmtSigned(fit.Low, perCycle), fmtSigned(fit.High, perCycle), fmtSigned(fit.Budget, perCycle))
		if fit.Low > fit.Budget {
			caption.WriteString(" The whole CI lies above the budget.")
		}
	}
	return p, caption.String(), nil
}

// timePlot draws a series over seconds with fault windows shaded; progress
// curves are drawn as steps from zero.
func timePlot(s *result.Series, windows []window, progress bool) (*plot.Plot, string, error) {
	xys := finite(s.Points, false)
	if len(xys) == 0 {
		return nil, "", fmt.Errorf("series %q has no finite points", s.Name)
	}
	div, ylabel := axisScale(s.Unit, maxAbsY(xys))
	xlabel := "seconds since scenario start"
	xdiv := 1.0
	if s.XUnit != "" && s.XUnit != XUnitSeconds {
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
	title := s.Name
	p := newPlot(title, xlabel, ylabel)
	drawn, thinned := thin(xys)
	line, err := plotter.NewLine(scaledXY(drawn, xdiv, div))
	if err != nil {
		return nil, "", fmt.Errorf("series %q: %w", s.Name, err)
	}
	line.Color = colorData
	line.Width = vg.Points(1.5)
	if progress {
		line.StepStyle = plotter.PostStep
		p.Y.Min = 0
	}
	xmin, xmax := xys[0].X/xdiv, xys[len(xys)-1].X/xdiv
	if len(windows) > 0 {
		drawnW := make([]window, len(windows))
		for i, w := range windows {
			drawnW[i] = window{From: w.From / xdiv, To: w.To / xdiv, Label: w.Label}
			xmin = math.Min(xmin, drawnW[i].From)
			if !math.IsInf(w.To, 1) {
				xmax = math.Max(xmax, drawnW[i].To)
			}
		}
		sh := &shade{windows: drawnW, color: colorFault}
		p.Add(sh)
		p.Legend.Add("fault active", sh)
	}
	p.Add(line)
	p.Legend.Add(orDash(s.Metric), line)
	p.X.Min = math.Min(p.X.Min, xmin)
	p.X.Max = math.Max(p.X.Max, xmax)

	var caption strings.Builder
	last := xys[len(xys)-1]
	if progress {
		peak := slices.MaxFunc(xys, func(a, b plotter.XY) int { return cmpFloat(a.Y, b.Y) })
		first := peak
		for _, p := range xys {
			if p.Y >= peak.Y {
				first = p
				break
			}
		}
		fmt.Fprintf(&caption, "Scopes served over time: %g at the end (%s), peak %g first reached at %s.",
			last.Y, fmtValue(last.X, "s"), peak.Y, fmtValue(first.X, "s"))
	} else {
		fmt.Fprintf(&caption, "%d samples over %s; last %s.", len(xys), fmtValue(last.X-xys[0].X, "s"), fmtValue(last.Y, s.Unit))
	}
	if thinned {
		fmt.Fprintf(&caption, " Drawn thinned to %d points.", len(drawn))
	}
	if len(windows) > 0 {
		fmt.Fprintf(&caption, " Shaded: %s.", describeWindows(windows, 8))
	}
	return p, caption.String(), nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
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
			to = fmtValue(w.To, "s")
		}
		parts = append(parts, fmt.Sprintf("%s %s–%s", w.Label, fmtValue(w.From, "s"), to))
	}
	return strings.Join(parts, "; ")
}

// histogramPlot draws the distribution of a series' Y values.
func histogramPlot(s *result.Series, checks []result.Check) (*plot.Plot, string, error) {
	var vals plotter.Values
	for _, p := range s.Points {
		if isFinite(p.Y) {
			vals = append(vals, p.Y)
		}
	}
	if len(vals) == 0 {
		return nil, "", fmt.Errorf("series %q has no finite values", s.Name)
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
		return nil, "", fmt.Errorf("series %q: %w", s.Name, err)
	}
	h.FillColor = colorHist
	h.LineStyle.Color = colorData
	p.Add(h)
	p.Legend.Add(fmt.Sprintf("%d operations", len(vals)), h)
	p.Y.Min = 0
	q := func(f float64) float64 { // nearest rank
		i := int(math.Ceil(f*float64(len(sorted)))) - 1
		return sorted[max(0, min(len(sorted)-1, i))]
	}
	var caption strings.Builder
	fmt.Fprintf(&caption, "%d timed-out operations; overshoot past the deadline: min %s, median %s, p95 %s, max %s.",
		len(vals), fmtValue(sorted[0], s.Unit), fmtValue(q(0.5), s.Unit), fmtValue(q(0.95), s.Unit),
		fmtValue(sorted[len(sorted)-1], s.Unit))
	if limit != nil {
		top := 0.0
		for _, b := range h.Bins {
			top = math.Max(top, b.Weight)
		}
		bl, err := plotter.NewLine(plotter.XYs{{X: limit.Limit / div, Y: 0}, {X: limit.Limit / div, Y: top}})
		if err != nil {
			return nil, "", fmt.Errorf("series %q budget: %w", s.Name, err)
		}
		bl.Color = colorFit
		bl.Width = vg.Points(2)
		bl.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		p.Add(bl)
		p.Legend.Add("budget "+orDash(limit.Budget), bl)
		fmt.Fprintf(&caption, " Budget %s (check %q: %s).", orDash(limit.Budget), limit.Name, limit.Verdict)
	}
	return p, caption.String(), nil
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
	marks := slices.Clone(s.Markers)
	slices.SortStableFunc(marks, func(a, b result.Marker) int { return cmpFloat(float64(a.At), float64(b.At)) })
	seen := false
	for _, m := range marks {
		at := float64(m.At)
		if !isFinite(at) {
			continue
		}
		switch m.Kind {
		case MarkerFaultOn:
			seen = true
			k := markerKey(m.Label)
			opened = append(opened, open{key: k, w: window{From: at, To: math.Inf(1), Label: k}})
		case MarkerFaultOff:
			seen = true
			closeKey(markerKey(m.Label), at)
		}
	}
	if !seen {
		evs := slices.Clone(s.Faults)
		slices.SortStableFunc(evs, func(a, b result.FaultEvent) int { return cmpFloat(float64(a.At), float64(b.At)) })
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
			case "inject":
				opened = append(opened, open{key: k, w: window{From: at, To: math.Inf(1), Label: k}})
			case "recover":
				closeKey(k, at)
			}
		}
	}
	for _, o := range opened {
		done = append(done, o.w)
	}
	slices.SortStableFunc(done, func(a, b window) int { return cmpFloat(a.From, b.From) })
	return done
}

// markerKey strips a leading "fault on:"/"fault off:" from a label.
func markerKey(label string) string {
	l := strings.ToLower(label)
	for _, p := range []string{"fault on", "fault off", "fault-on", "fault-off"} {
		if strings.HasPrefix(l, p) {
			if _, rest, ok := strings.Cut(label, ": "); ok {
				return strings.TrimSpace(rest)
			}
			return strings.TrimSpace(label[len(p):])
		}
	}
	return strings.TrimSpace(label)
}

// shade fills x intervals over the full height of the data area.
type shade struct {
	windows []window
	color   color.Color
}

// Plot implements plot.Plotter.
func (s *shade) Plot(c draw.Canvas, p *plot.Plot) {
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
	}
}

// Thumbnail implements plot.Thumbnailer for the legend.
func (s *shade) Thumbnail(c *draw.Canvas) {
	c.FillPolygon(s.color, []vg.Point{
		{X: c.Min.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Min.X, Y: c.Max.Y},
	})
}
