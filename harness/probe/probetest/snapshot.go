package probetest

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/gitchaos/gitchaos/harness/probe"
	"github.com/gitchaos/gitchaos/harness/result"
)

// Snapshot is a copy of a sampler's buffer and markers.
type Snapshot struct {
	Source         string         `json:"source"`
	Start          time.Time      `json:"start"`
	Interval       time.Duration  `json:"interval"`
	Samples        []probe.Sample `json:"samples"`
	Markers        []Marker       `json:"markers"`
	Dropped        int            `json:"dropped"` // samples dropped from the ring buffer
	DroppedMarkers int            `json:"dropped_markers"`
	Errors         int            `json:"errors"` // failed samples
	LastError      string         `json:"last_error,omitempty"`
}

// Reduce picks one value per cycle.
type Reduce string

// Reductions.
const (
	// Min is the cycle's minimum: the floor under GC sawtooth and
	// transient fds or goroutines.
	Min Reduce = "min"
	// Last is the last sample of the cycle.
	Last Reduce = "last"
	// Max is the cycle's maximum.
	Max Reduce = "max"
	// Mean is the cycle's mean.
	Mean Reduce = "mean"
	// AfterSettle is the first sample at or after the cycle's first
	// KindSettled marker.
	AfterSettle Reduce = "after-settle"
)

// Window is one cycle: from its marker to the next cycle or end marker
// (the last cycle runs to the last sample).
type Window struct {
	Label    string    `json:"label"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"` // exclusive; zero for an open last cycle
	Settled  time.Time `json:"settled,omitempty"`
	Index    int       `json:"index"`
	HasUntil bool      `json:"-"`
}

// Cycles returns the windows cut by KindCycle and KindEnd markers.
func (sn Snapshot) Cycles() []Window {
	var out []Window
	open := -1
	for _, m := range sn.Markers {
		switch m.Kind {
		case KindCycle, KindEnd:
			if open >= 0 {
				out[open].To, out[open].HasUntil = m.Time, true
				open = -1
			}
			if m.Kind == KindCycle {
				out = append(out, Window{Label: m.Label, From: m.Time, Index: len(out)})
				open = len(out) - 1
			}
		case KindSettled:
			if open >= 0 && out[open].Settled.IsZero() {
				out[open].Settled = m.Time
			}
		}
	}
	return out
}

// PerCycle reduces metric to one value per cycle. A cycle with no
// sample of the metric is an error naming the cycle (the metric is
// unavailable, or the cycle was shorter than the sampling interval).
func (sn Snapshot) PerCycle(metric string, how Reduce) ([]float64, error) {
	switch how {
	case Min, Last, Max, Mean, AfterSettle:
	default:
		return nil, fmt.Errorf("probe: per cycle %s: unknown reduction %q", metric, how)
	}
	ws := sn.Cycles()
	if len(ws) == 0 {
		return nil, fmt.Errorf("probe: per cycle %s: no %q markers", metric, KindCycle)
	}
	out := make([]float64, 0, len(ws))
	var errs []error
	for _, w := range ws {
		from := w.From
		if how == AfterSettle {
			if w.Settled.IsZero() {
				errs = append(errs, fmt.Errorf("cycle %q: no %q marker", w.Label, KindSettled))
				continue
			}
			from = w.Settled
		}
		v, n := math.NaN(), 0
		var why string
		for _, s := range sn.Samples {
			if s.Time.Before(from) || (w.HasUntil && !s.Time.Before(w.To)) {
				continue
			}
			x, ok := s.Values[metric]
			if !ok {
				why = s.Unavailable[metric]
				continue
			}
			switch {
			case n == 0:
				v = x
			case how == Min:
				v = math.Min(v, x)
			case how == Max:
				v = math.Max(v, x)
			case how == Last:
				v = x
			case how == Mean:
				v += x
			}
			n++
			if how == AfterSettle {
				break
			}
		}
		if n == 0 {
			if why == "" {
				why = "no sample in the window"
			}
			errs = append(errs, fmt.Errorf("cycle %q: %s", w.Label, why))
			continue
		}
		if how == Mean {
			v /= float64(n)
		}
		out = append(out, v)
	}
	if err := errors.Join(errs...); err != nil {
		return out, fmt.Errorf("probe: per cycle %s: %w", metric, err)
	}
	return out, nil
}

// Series converts one metric's samples to a result series (x: seconds
// since Start); samples without the metric are skipped.
func (sn Snapshot) Series(metric string) result.Series {
	s := result.Series{Name: metric, Metric: metric, XUnit: "s"}
	for _, smp := range sn.Samples {
		if v, ok := smp.Values[metric]; ok {
			s.Points = append(s.Points, result.Point{X: smp.Time.Sub(sn.Start).Seconds(), Y: v})
		}
	}
	return s
}

// ResultMarkers converts the markers (times relative to Start).
func (sn Snapshot) ResultMarkers() []result.Marker {
	out := make([]result.Marker, len(sn.Markers))
	for i, m := range sn.Markers {
		out[i] = result.Marker{At: result.Secs(m.Time.Sub(sn.Start)), Label: m.Label, Kind: m.Kind}
	}
	return out
}
