package reports

import (
	"math"
	"testing"

	"gonum.org/v1/plot/plotter"

	"github.com/gitchaos/gitchaos/harness/result"
)

func TestFaultWindowsFromMarkers(t *testing.T) {
	s := &result.Scenario{
		Markers: []result.Marker{
			{At: 9, Label: "fault off: blackhole h1", Kind: MarkerFaultOff},
			{At: 2, Label: "fault on: blackhole h1", Kind: MarkerFaultOn},
			{At: 3, Label: "fault on: offline h2", Kind: MarkerFaultOn},
			{At: 4, Label: "cycle 1", Kind: "cycle"},
			{At: 5, Label: "fault off: something else", Kind: MarkerFaultOff}, // closes the oldest open (blackhole h1)
			{At: 7, Label: "fault on: latency h3", Kind: MarkerFaultOn},       // never closed
		},
		// Ignored: markers win when there are fault markers.
		Faults: []result.FaultEvent{{At: 1, Host: "hX", Fault: "reset", Action: "inject"}},
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

func TestFmtValue(t *testing.T) {
	for _, c := range []struct {
		v    float64
		unit string
		want string
	}{
		{3174, "bytes/cycle", "3.1 KiB/cycle"},
		{48 << 20, "bytes", "48 MiB"},
		{0.0253, "s", "25.3 ms"},
		{7.9, "s", "7.9 s"},
		{9999.5, "s", "2h46m40s"},
		{1.02, "fds/cycle", "1.02 fds/cycle"},
		{27, "count", "27"},
	} {
		if got := fmtValue(c.v, c.unit); got != c.want {
			t.Errorf("fmtValue(%v, %q) = %q, want %q", c.v, c.unit, got, c.want)
		}
	}
}
