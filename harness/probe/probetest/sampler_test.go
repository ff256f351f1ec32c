package probetest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gitchaos/gitchaos/harness/probe"
	"github.com/gitchaos/gitchaos/harness/probe/probetest"
)

func newSampler(t *testing.T, src probe.Source, opts probetest.SamplerOptions) *probetest.Sampler {
	t.Helper()
	s, err := probetest.NewSampler(src, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func waitSamples(t *testing.T, s *probetest.Sampler, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitSamples(ctx, n); err != nil {
		t.Fatal(err)
	}
}

// Markers cut a real process's series into cycles; a leak of 5 fds in
// cycle 1 and 5 more in cycle 2 shows in the per-cycle minima.
func TestSamplerCyclesOnHelper(t *testing.T) {
	h := probetest.Start(t)
	src, err := probe.PID(h.PID)
	if err != nil {
		t.Fatal(err)
	}
	s := newSampler(t, src, probetest.SamplerOptions{Interval: 5 * time.Millisecond})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	for i, cmd := range []string{"", "fd 5", "fd 5", ""} {
		s.Mark("cycle "+string(rune('0'+i)), probetest.KindCycle)
		if cmd != "" {
			h.MustDo(t, cmd)
		}
		waitSamples(t, s, 3)
		if i == 3 {
			s.Mark("settled", probetest.KindSettled)
			waitSamples(t, s, 2)
		}
	}
	s.Mark("end", probetest.KindEnd)
	waitSamples(t, s, 2) // samples after the end marker belong to no cycle
	s.Stop()
	sn := s.Snapshot()
	if got := len(sn.Cycles()); got != 4 {
		t.Fatalf("%d cycles, want 4: %+v", got, sn.Markers)
	}
	last, err := sn.PerCycle(probe.FDs, probetest.Last)
	if err != nil {
		t.Fatal(err)
	}
	if last[1]-last[0] != 5 || last[2]-last[1] != 5 || last[3] != last[2] {
		t.Errorf("fds per cycle (last) %v, want +5, +5, +0", last)
	}
	minima, err := sn.PerCycle(probe.FDs, probetest.Min)
	if err != nil {
		t.Fatal(err)
	}
	if minima[3] != last[2] || minima[0] != last[0] {
		t.Errorf("fds per cycle (min) %v, last %v", minima, last)
	}
	if _, err := sn.PerCycle(probe.FDs, probetest.AfterSettle); err == nil || !strings.Contains(err.Error(), `cycle "cycle 0": no "settled" marker`) {
		t.Errorf("after-settle without settled markers: %v", err)
	}
	if _, err := sn.PerCycle(probe.Heap, probetest.Min); err == nil || !strings.Contains(err.Error(), "not measurable from outside") {
		t.Errorf("heap per cycle from a pid: %v, want the unavailable reason", err)
	}
	if ser := sn.Series(probe.FDs); len(ser.Points) != len(sn.Samples) || ser.Points[0].X < 0 {
		t.Errorf("series: %d points for %d samples", len(ser.Points), len(sn.Samples))
	}
	if len(s.Samples()) != len(sn.Samples) || len(s.Markers()) != 6 {
		t.Errorf("Samples() %d, Markers() %d", len(s.Samples()), len(s.Markers()))
	}
	if rm := sn.ResultMarkers(); len(rm) != 6 || rm[0].Kind != probetest.KindCycle {
		t.Errorf("result markers %+v", rm)
	}
}

// Mark with no kind starts a cycle.
func TestMarkDefaultKind(t *testing.T) {
	s := newSampler(t, probe.Self(probe.SelfOptions{SkipGC: true}), probetest.SamplerOptions{})
	s.Mark("c0")
	s.Mark("fault", probetest.KindFaultOn)
	s.Mark("c1")
	ms := s.Markers()
	if len(ms) != 3 || ms[0].Kind != probetest.KindCycle || ms[1].Kind != probetest.KindFaultOn || ms[2].Kind != probetest.KindCycle {
		t.Fatalf("markers %+v", ms)
	}
	if n := len(s.Snapshot().Cycles()); n != 2 {
		t.Errorf("%d cycles, want 2", n)
	}
}

func TestPerCycleReductions(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	smp := func(ms int, v float64) probe.Sample {
		return probe.Sample{Time: at(ms), Values: map[string]float64{"x": v}}
	}
	sn := probetest.Snapshot{
		Start: t0,
		Samples: []probe.Sample{
			smp(0, 5), smp(10, 9), smp(20, 3), smp(30, 7), // cycle a
			smp(100, 4), smp(110, 8), smp(120, 6), // cycle b (settled at 105)
		},
		Markers: []probetest.Marker{
			{Time: at(0), Label: "a", Kind: probetest.KindCycle},
			{Time: at(15), Label: "s", Kind: probetest.KindSettled},
			{Time: at(100), Label: "b", Kind: probetest.KindCycle},
			{Time: at(105), Label: "s", Kind: probetest.KindSettled},
			{Time: at(115), Label: "f", Kind: probetest.KindFaultOn},
		},
	}
	want := map[probetest.Reduce][]float64{
		probetest.Min:         {3, 4},
		probetest.Max:         {9, 8},
		probetest.Last:        {7, 6},
		probetest.Mean:        {6, 6},
		probetest.AfterSettle: {3, 8},
	}
	for how, w := range want {
		got, err := sn.PerCycle("x", how)
		if err != nil {
			t.Fatalf("%s: %v", how, err)
		}
		if len(got) != 2 || got[0] != w[0] || got[1] != w[1] {
			t.Errorf("%s: %v, want %v", how, got, w)
		}
	}
	if _, err := sn.PerCycle("x", "median"); err == nil {
		t.Error("unknown reduction: no error")
	}
	if _, err := sn.PerCycle("y", probetest.Min); err == nil {
		t.Error("absent metric: no error")
	}
	if _, err := (probetest.Snapshot{}).PerCycle("x", probetest.Min); err == nil {
		t.Error("no markers: no error")
	}
	cs := probe.CycleSeries("x", []float64{1, 2})
	if len(cs.Points) != 2 || cs.XUnit != "cycle" || cs.Points[1].X != 1 {
		t.Errorf("cycle series %+v", cs)
	}
}

// The ring buffer keeps the newest Capacity samples and counts the rest.
func TestSamplerBoundedBuffer(t *testing.T) {
	s := newSampler(t, probe.Self(probe.SelfOptions{SkipGC: true}), probetest.SamplerOptions{Interval: time.Millisecond, Capacity: 5})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitSamples(t, s, 20)
	s.Stop()
	sn := s.Snapshot()
	total := s.Count()
	if len(sn.Samples) != 5 || sn.Dropped != total-5 || total < 20 {
		t.Fatalf("%d samples kept, %d dropped, %d taken; want 5 kept, %d dropped", len(sn.Samples), sn.Dropped, total, total-5)
	}
	for i := 1; i < len(sn.Samples); i++ {
		if !sn.Samples[i].Time.After(sn.Samples[i-1].Time) {
			t.Errorf("samples out of order at %d", i)
		}
	}
	for range 7 {
		s.Mark("m", probetest.KindPhase)
	}
	if sn := s.Snapshot(); len(sn.Markers) != 5 || sn.DroppedMarkers != 2 {
		t.Errorf("%d markers kept, %d dropped; want 5, 2", len(sn.Markers), sn.DroppedMarkers)
	}
}

// Stop returns only after the sampling goroutine has; a sampler restarts.
func TestSamplerStopLeavesNoGoroutine(t *testing.T) {
	s := newSampler(t, probe.Self(probe.SelfOptions{SkipGC: true}), probetest.SamplerOptions{Interval: 2 * time.Millisecond})
	for range 3 {
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := s.Start(context.Background()); err == nil {
			t.Fatal("second Start: no error")
		}
		waitSamples(t, s, 2)
		s.Stop()
		goleak.VerifyNone(t)
	}
	s.Stop() // stopping a stopped sampler is a no-op
	// A cancelled parent context also ends sampling.
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	s.Stop()
	goleak.VerifyNone(t)
}

func TestSamplerCountsErrors(t *testing.T) {
	h := probetest.Start(t)
	src, err := probe.PID(h.PID)
	if err != nil {
		t.Fatal(err)
	}
	s := newSampler(t, src, probetest.SamplerOptions{Interval: 2 * time.Millisecond})
	if _, err := s.SampleNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SampleNow(context.Background()); !errors.Is(err, probe.ErrProcessGone) {
		t.Fatalf("sample of an exited process: %v", err)
	}
	sn := s.Snapshot()
	if sn.Errors != 1 || len(sn.Samples) != 1 || !strings.Contains(sn.LastError, "not running") {
		t.Errorf("errors %d, samples %d, last error %q", sn.Errors, len(sn.Samples), sn.LastError)
	}
}

func TestSamplerOptions(t *testing.T) {
	src := probe.Self()
	for _, o := range []probetest.SamplerOptions{{Interval: -1}, {Interval: time.Microsecond}, {Capacity: -1}, {Timeout: -time.Second}} {
		if _, err := probetest.NewSampler(src, o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	if _, err := probetest.NewSampler(nil, probetest.SamplerOptions{}); err == nil {
		t.Error("nil source: no error")
	}
	s := newSampler(t, src, probetest.SamplerOptions{})
	if sn := s.Snapshot(); sn.Interval != 100*time.Millisecond {
		t.Errorf("default interval %v, want 100ms (10 Hz)", sn.Interval)
	}
}

func TestMain(m *testing.M) {
	probetest.MaybeRunHelper()
	goleak.VerifyTestMain(m)
}
