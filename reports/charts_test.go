package reports

import (
	"math"
	"strings"
	"testing"

	"gonum.org/v1/plot/plotter"

	"github.com/gitchaos/gitchaos/harness/result"
)

// TestFaultWindowsUnmatchedAndOpen: events out of order are sorted; a
// recover with no open window of its key closes the oldest; a window never
// closed runs to the end; marker labels are never parsed.
func TestFaultWindowsUnmatchedAndOpen(t *testing.T) {
	s := &result.Scenario{
		Markers: []result.Marker{
			{At: 1, Label: "fault on: reset hX", Kind: result.MarkerFaultOn}, // ignored: windows come from events
			{At: 4, Label: "cycle 1", Kind: result.MarkerCycle},
		},
		Faults: []result.FaultEvent{
			{At: 9, Host: "h1", Fault: "blackhole", Action: result.FaultRecover},
			{At: 2, Host: "h1", Fault: "blackhole", Action: result.FaultInject},
			{At: 3, Host: "h2", Fault: "offline", Action: result.FaultInject},
			{At: 5, Host: "else", Fault: "something", Action: result.FaultRecover}, // closes the oldest open (blackhole h1)
			{At: 7, Host: "h3", Fault: "latency", Action: result.FaultInject},      // never closed
		},
	}
	got := faultWindows(s)
	want := []window{
		{From: 2, To: 5, Label: "blackhole h1"},
		{From: 3, To: 9, Label: "offline h2"}, // the fault off at 9 has no "blackhole h1" left open
		{From: 7, To: math.Inf(1), Label: "latency h3"},
	}
	if len(got) != len(want) {
		t.Fatalf("windows = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("window %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestFaultWindowsFromEvents(t *testing.T) {
	s := &result.Scenario{Faults: []result.FaultEvent{
		{At: 1, Host: "h1", Repo: "r", Fault: "http-500", Action: "inject"},
		{At: 2, Host: "h2", Fault: "blackhole", Action: "inject"},
		{At: 4, Host: "h2", Fault: "blackhole", Action: "recover"},
		{At: 6, Host: "h1", Repo: "r", Fault: "http-500", Action: "recover"},
		{At: result.Seconds(math.NaN()), Host: "h3", Fault: "offline", Action: "inject"},
	}}
	got := faultWindows(s)
	want := []window{{From: 1, To: 6, Label: "http-500 h1/r"}, {From: 2, To: 4, Label: "blackhole h2"}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("windows = %+v, want %+v", got, want)
	}
}

// TestThinKeepsExtremes: thinning a long series keeps its spikes.
func TestThinKeepsExtremes(t *testing.T) {
	xys := make(plotter.XYs, 100_000)
	for i := range xys {
		xys[i] = plotter.XY{X: float64(i), Y: 40}
	}
	xys[77_777].Y = 400
	xys[12_345].Y = -5
	got, thinned := thin(xys)
	if !thinned || len(got) > MaxChartPoints {
		t.Fatalf("thinned=%v to %d points, want at most %d", thinned, len(got), MaxChartPoints)
	}
	var hi, lo bool
	for _, p := range got {
		hi = hi || (p.X == 77_777 && p.Y == 400)
		lo = lo || (p.X == 12_345 && p.Y == -5)
	}
	if !hi || !lo {
		t.Errorf("thinning lost a spike: max kept %v, min kept %v", hi, lo)
	}
	if short, th := thin(xys[:10]); th || len(short) != 10 {
		t.Errorf("short series thinned to %d points", len(short))
	}
}

// TestFaultKinds: windows are grouped by fault kind, overlapping windows of
// a kind merged (seven overlapping blackholes are one band, not seven
// stacked layers), kinds in order of first appearance.
func TestFaultKinds(t *testing.T) {
	var ws []window
	for i := range 7 {
		ws = append(ws, window{From: float64(i) * 0.1, To: 2 + float64(i)*0.1, Label: "blackhole h1/r00" + string(rune('0'+i))})
	}
	ws = append(ws, window{From: 5, To: 6, Label: "offline h2"}, window{From: 8, To: math.Inf(1), Label: "blackhole h3"})
	got := faultKinds(ws)
	if len(got) != 2 || got[0].name != "blackhole" || got[1].name != "offline" {
		t.Fatalf("kinds = %+v, want blackhole then offline", got)
	}
	if got[0].count != 8 || len(got[0].merged) != 2 || got[0].merged[0].From != 0 || got[0].merged[0].To != 2.6 || !math.IsInf(got[0].merged[1].To, 1) {
		t.Errorf("blackhole = %+v, want 8 windows merged into [0, 2.6] and [8, end]", got[0])
	}
}

// TestTimeCaptionFromData: the caption describes the data drawn: the span
// of x in seconds for series over time, the x unit otherwise (never a
// request count read as seconds).
func TestTimeCaptionFromData(t *testing.T) {
	var pts []result.Point
	for i := range 125 {
		pts = append(pts, result.Point{X: 1.5 + float64(i)*0.02, Y: 0.003})
	}
	_, caption, leg, err := timePlot(&result.Series{Name: "API latency", Metric: "api_latency", Unit: "s", XUnit: "s", Points: pts}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := "125 samples over 2.48 s (1.50 s to 3.98 s); median 3 ms, max 3 ms, last 3 ms."; caption != want {
		t.Errorf("caption %q, want %q", caption, want)
	}
	if len(leg) != 1 || leg[0].Label != "api_latency" || leg[0].Style != "line" {
		t.Errorf("legend %+v, want the series alone", leg)
	}
	for i := range pts {
		pts[i].X = float64(i)
	}
	_, caption, _, err = timePlot(&result.Series{Name: "API latency", Metric: "api_latency", Unit: "s", XUnit: "request", Points: pts}, []window{{From: 1, To: 2, Label: "blackhole h0"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := "125 points by request (0 to 124); median 3 ms, max 3 ms, last 3 ms."; caption != want {
		t.Errorf("caption %q, want %q (no seconds, no fault windows on a request axis)", caption, want)
	}
}

func TestCSSColor(t *testing.T) {
	if got := cssColor(colorData); got != "#1f77b4" {
		t.Errorf("cssColor(data) = %q", got)
	}
	if got := cssColor(faultPalette[0]); got != "#ff7f0e2a" {
		t.Errorf("cssColor(translucent orange) = %q", got)
	}
}

// TestCycleCaptionNamesItsStep: a soak's per-window series says windows,
// not cycles, in its caption and legend; a series without Per says cycles.
func TestCycleCaptionNamesItsStep(t *testing.T) {
	var pts []result.Point
	for i := range 12 {
		pts = append(pts, result.Point{X: float64(i), Y: float64(40 + 2*i)})
	}
	fit := &result.Fit{Method: "theil-sen", Slope: 2, Intercept: 40, Low: 1.5, High: 2.5, FromX: 3, ToX: 11, Budget: 0}
	for per, want := range map[string]string{"window": "/window", "": "/cycle", "round": "/round"} {
		_, caption, leg, err := cyclePlot(&result.Series{Name: "fds", Metric: "fds", XUnit: "cycle", Per: per, Points: pts, Fit: fit})
		if err != nil {
			t.Fatal(err)
		}
		word := per
		if word == "" {
			word = "cycle"
		}
		if !strings.HasPrefix(caption, "12 "+word+"s, fds") || !strings.Contains(caption, "over "+word+"s 3–11") || !strings.Contains(caption, "+2"+want) {
			t.Errorf("per %q: caption %q does not count %ss or give slopes %s", per, caption, word, want)
		}
		for _, l := range leg {
			if strings.HasPrefix(l.Label, "fit") && !strings.HasSuffix(l.Label, want) {
				t.Errorf("per %q: legend %q, want %s", per, l.Label, want)
			}
		}
	}
}
