package reports

import (
	"cmp"
	"fmt"
	"image/color"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/gitchaos/gitchaos/harness/result"
)

// window is a shaded x interval.
type window struct {
	From, To float64 // To is +Inf while open
	Label    string
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
