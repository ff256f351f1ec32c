package reports

import (
	"bytes"
	"fmt"
	"html"
	"image/color"
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
