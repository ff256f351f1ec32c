package main

import (
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"strings"

	"github.com/gitchaos/gitchaos/harness/compare"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/internal/gates"
)

// Colours of the two sides in the HTML page.
const (
	htmlBase = "#1f77b4" // blue
	htmlHead = "#ff7f0e" // orange
)

// writeCompareHTMLFile writes c as a self-contained HTML page to path.
func writeCompareHTMLFile(path string, c *comparison) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write HTML: %w", err)
	}
	writeCompareHTML(f, c)
	if err := f.Close(); err != nil {
		return fmt.Errorf("write HTML %s: %w", path, err)
	}
	return nil
}

// writeCompareHTML renders the comparison: the verdict table, then per
// check its base and head values side by side on one axis (each run a
// dot, the medians a bar) and, for a per-cycle check, every run's series
// overlaid (each from its first cycle's value, base blue, head orange).
func writeCompareHTML(w io.Writer, c *comparison) {
	esc := html.EscapeString
	fmt.Fprintf(w, `<!doctype html>
<html><head><meta charset="utf-8"><title>gitchaos compare: %s</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left}
.broken,.worse{color:#b00;font-weight:bold}.fixed,.better{color:#070;font-weight:bold}.undecided{color:#a60}
.check{margin:1.2em 0;border-top:1px solid #eee;padding-top:.6em}.why{font-size:13px;color:#555}
.key{font-size:13px}.key b.b{color:%s}.key b.h{color:%s}
</style></head><body>
`, esc(c.summary()), htmlBase, htmlHead)
	fmt.Fprintf(w, "<h1>gitchaos compare</h1>\n<p><b>%s</b></p>\n<p>%s</p>\n<p class=\"why\">%s</p>\n", esc(c.summary()), esc(c.header()), esc(c.Design))
	fmt.Fprintf(w, "<p class=\"key\"><b class=\"b\">● base</b> &nbsp; <b class=\"h\">● head</b></p>\n")
	fmt.Fprintln(w, "<table><tr><th>id</th><th>check</th><th>base</th><th>head</th><th>Δ (95% CI)</th><th>p</th><th>Holm</th><th>fails</th><th>verdict</th></tr>")
	for i, o := range c.Checks {
		b, h, d, p, holm, f := compareCells(o, c.Alpha)
		fmt.Fprintf(w, "<tr><td>%s</td><td><a href=\"#c%d\">%s</a></td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td class=\"%s\">%s</td></tr>\n",
			esc(outcomeID(o)), i, esc(o.Check), esc(b), esc(h), esc(d), p, holm, esc(f), o.Verdict, esc(o.String()))
	}
	fmt.Fprintln(w, "</table>")
	for i, o := range c.Checks {
		fmt.Fprintf(w, "<div class=\"check\" id=\"c%d\"><h3>%s / %s: <span class=\"%s\">%s</span></h3>\n<p class=\"why\">%s</p>\n",
			i, esc(outcomeID(o)), esc(o.Check), o.Verdict, esc(o.String()), esc(o.Reason))
		if len(o.Base.Values) > 0 || len(o.Head.Values) > 0 {
			fmt.Fprintln(w, stripSVG(o))
		}
		if svg := seriesSVG(c, o); svg != "" {
			fmt.Fprintln(w, svg)
		}
		fmt.Fprintln(w, "</div>")
	}
	fmt.Fprintln(w, "</body></html>")
}

// stripSVG draws the values of both sides on one axis: a row of dots
// each, the median a bar.
func stripSVG(o compare.Outcome) string {
	const wd, ht, pad = 640.0, 70.0, 60.0
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range append(append([]float64{}, o.Base.Values...), o.Head.Values...) {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if hi == lo {
		lo, hi = lo-1, hi+1
	}
	x := func(v float64) float64 { return pad + (v-lo)/(hi-lo)*(wd-2*pad) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg width="%g" height="%g" role="img" aria-label="values per run, base and head">`, wd, ht)
	for s, side := range []compare.Side{o.Base, o.Head} {
		y := 20.0 + float64(s)*26
		col, name := htmlBase, "base"
		if s == 1 {
			col, name = htmlHead, "head"
		}
		fmt.Fprintf(&b, `<text x="4" y="%g" font-size="11">%s</text>`, y+4, name)
		fmt.Fprintf(&b, `<line x1="%g" x2="%g" y1="%g" y2="%g" stroke="#ddd"/>`, pad, wd-pad, y, y)
		for _, v := range side.Values {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%g" r="4" fill="%s" fill-opacity="0.6"><title>%s</title></circle>`, x(v), y, col, html.EscapeString(result.FormatValue(v, o.Unit)))
		}
		if len(side.Values) > 0 {
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%g" y2="%g" stroke="%s" stroke-width="2"/>`, x(side.Median), x(side.Median), y-9, y+9, col)
		}
	}
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="10" text-anchor="middle">%s</text>`, pad, ht-2, html.EscapeString(result.FormatValue(lo, o.Unit)))
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="10" text-anchor="middle">%s</text>`, wd-pad, ht-2, html.EscapeString(result.FormatValue(hi, o.Unit)))
	b.WriteString("</svg>")
	return b.String()
}

// seriesSVG overlays the per-cycle series of o's metric from every run of
// both sides, each shifted to start at zero (runs differ in their
// starting level; the comparison is of the growth), or "" when the check
// has no such series.
func seriesSVG(c *comparison, o compare.Outcome) string {
	id := strings.TrimPrefix(o.Key, o.Scenario+"/")
	d, ok := gates.LookupCheck(id)
	if !ok || d.Metric == "" {
		return ""
	}
	var lines [2][][]result.Point
	lo, hi, maxX := math.Inf(1), math.Inf(-1), 0.0
	per := "cycle" // the step's name: a round in repeat-sync
	for s := range 2 {
		for _, r := range c.runs[s] {
			for _, sc := range r.Scenarios {
				if sc.Name != o.Scenario {
					continue
				}
				for _, se := range sc.Series {
					if se.Metric != d.Metric || se.XUnit != "cycle" || len(se.Points) < 2 {
						continue
					}
					if se.Per != "" {
						per = se.Per
					}
					y0 := se.Points[0].Y
					pts := make([]result.Point, len(se.Points))
					for i, p := range se.Points {
						pts[i] = result.Point{X: p.X, Y: p.Y - y0}
						lo, hi, maxX = math.Min(lo, pts[i].Y), math.Max(hi, pts[i].Y), math.Max(maxX, p.X)
					}
					lines[s] = append(lines[s], pts)
					break
				}
			}
		}
	}
	if len(lines[0])+len(lines[1]) == 0 {
		return ""
	}
	if hi == lo {
		lo, hi = lo-1, hi+1
	}
	if maxX == 0 {
		maxX = 1
	}
	const wd, ht, pad = 640.0, 180.0, 60.0
	x := func(v float64) float64 { return pad + v/maxX*(wd-2*pad) }
	y := func(v float64) float64 { return ht - 20 - (v-lo)/(hi-lo)*(ht-40) }
	unit := flatUnit(o.Unit)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg width="%g" height="%g" role="img" aria-label="%s per %s, every run, base and head">`, wd, ht, html.EscapeString(d.Metric), per)
	fmt.Fprintf(&b, `<line x1="%g" x2="%g" y1="%g" y2="%g" stroke="#ccc"/>`, pad, wd-pad, ht-20, ht-20)
	fmt.Fprintf(&b, `<text x="4" y="14" font-size="10">%s</text>`, html.EscapeString("+"+result.FormatValue(hi, unit)))
	fmt.Fprintf(&b, `<text x="4" y="%g" font-size="10">%s</text>`, ht-22, html.EscapeString(result.FormatValue(lo, unit)))
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="10" text-anchor="end">%s %g</text>`, wd-pad, ht-6, per, maxX)
	for s, runs := range lines {
		col := htmlBase
		if s == 1 {
			col = htmlHead
		}
		for _, pts := range runs {
			var ps []string
			for _, p := range pts {
				ps = append(ps, fmt.Sprintf("%.1f,%.1f", x(p.X), y(p.Y)))
			}
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-opacity="0.6" stroke-width="1.5"/>`, strings.Join(ps, " "), col)
		}
	}
	b.WriteString("</svg>")
	return b.String()
}

// flatUnit is the unit of a per-step unit's level: "fds/cycle" -> "fds".
func flatUnit(u string) string {
	base, _, _ := strings.Cut(u, "/")
	return base
}
