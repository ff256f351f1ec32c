package probe_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/harness/probe"
	"github.com/gitchaos/gitchaos/harness/probe/probetest"
	"github.com/gitchaos/gitchaos/internal/race"
)

// cpuSelf is this process's user+system CPU time.
func cpuSelf(t testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestSamplingCost runs the default sampler (10 Hz) against another
// process's PID and measures this process's CPU time per second of
// sampling, everything included (the Go runtime waking up 10 times a
// second is about half of it on a VM). With -long (30 s, no -race) it
// must stay under 1% of one core; the 3 s default allows 2% (5% under
// -race) for the noise of a short window on a shared machine.
func TestSamplingCost(t *testing.T) {
	d, limit := 3*time.Second, 0.02
	if *long {
		d, limit = 30*time.Second, 0.01
	}
	if race.Enabled {
		limit = 0.05
	}
	h := probetest.Start(t)
	src, err := probe.PID(h.PID)
	if err != nil {
		t.Fatal(err)
	}
	s, err := probetest.NewSampler(src, probetest.SamplerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Warm up (the first sample reads boot time and clock ticks once).
	if _, err := s.SampleNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	c0, w0 := cpuSelf(t), time.Now()
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The measurement window itself: a fixed duration, nothing to poll for
	// (polling would add its own cost to the figure).
	<-time.After(d)
	s.Stop()
	c1, wall := cpuSelf(t), time.Since(w0)
	if want := int(d/(100*time.Millisecond)) - 2; s.Count() < want {
		t.Errorf("%d samples in %v, want >= %d at 10 Hz", s.Count(), wall, want)
	}
	frac := (c1 - c0).Seconds() / wall.Seconds()
	t.Logf("sampling pid %d at 10 Hz: %d samples in %v cost %v CPU = %.3f%% of one core (%.0f µs/sample; race=%v)",
		h.PID, s.Count(), wall.Round(time.Millisecond), (c1 - c0).Round(time.Microsecond), 100*frac,
		float64((c1-c0).Microseconds())/float64(s.Count()), race.Enabled)
	if frac > limit {
		t.Errorf("sampling cost %.3f%% of one core, want < %.0f%%", 100*frac, 100*limit)
	}
}

// BenchmarkPIDSample is one sample of another process (fds, RSS,
// threads, CPU); cpu-µs/op is this process's CPU per sample and
// core-%@10Hz what sampling at 10 Hz costs.
func BenchmarkPIDSample(b *testing.B) {
	h := probetest.Start(b)
	for _, children := range []bool{false, true} {
		name := "alone"
		if children {
			name = "children"
		}
		b.Run(name, func(b *testing.B) {
			src, err := probe.PID(h.PID, probe.PIDOptions{Children: children})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			c0 := cpuSelf(b)
			for b.Loop() {
				if _, err := src.Sample(ctx); err != nil {
					b.Fatal(err)
				}
			}
			per := float64((cpuSelf(b) - c0).Microseconds()) / float64(b.N)
			b.ReportMetric(per, "cpu-µs/op")
			b.ReportMetric(per*10/1e6*100, "core-%@10Hz")
		})
	}
}

// BenchmarkSelfSample is one sample of this process (with its forced GC).
func BenchmarkSelfSample(b *testing.B) {
	src := probe.Self()
	ctx := context.Background()
	for b.Loop() {
		if _, err := src.Sample(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
