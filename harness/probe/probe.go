// Package probe samples a process: open fds, RSS, heap, goroutines,
// threads, CPU time, disk use under a directory and any numeric keys of an
// HTTP stats endpoint. Sources combine, and a Sampler records them in the
// background with markers that cut series into cycles.
//
// Which metric each kind of source reads is harness/metric's table; the
// readers are here, one function per metric and kind: processReaders
// (pid.go), treeReaders (tree.go), selfReaders (self.go), dirReaders
// (dir.go). TestReaders fails when the two disagree.
package probe

import (
	"context"
	"sort"
	"time"

	"github.com/gitchaos/gitchaos/harness/metric"
)

// Well-known metric names: harness/metric's, under the names callers
// know. Stats-endpoint keys are added under their own names (repo_locks,
// repos, repos_last_fetched, rss_kb, in_flight, ...).
const (
	FDs        = metric.FDs
	RSS        = metric.RSS
	Heap       = metric.Heap       // in-process: heap in use after GC
	Goroutines = metric.Goroutines // in-process (or a target's stats endpoint)
	Threads    = metric.Threads
	CPU        = metric.CPU  // user+system
	Disk       = metric.Disk // bytes on disk under a directory
	// Processes (tree.go) counts a target's processes besides its root.
)

// Sample is one reading. A metric a source cannot measure is absent from
// Values (and named in Unavailable), never zero.
type Sample struct {
	Time        time.Time          `json:"time"`
	Values      map[string]float64 `json:"values"`
	Unavailable map[string]string  `json:"unavailable,omitempty"` // metric -> reason
	// Origin names the source of each measured metric (Combine fills it;
	// a derived value says so, e.g. "http://.../stats (from rss_kb)").
	Origin map[string]string `json:"origin,omitempty"`
	// SourceErrors names combined sources that failed this time (source
	// name -> error); their metrics are absent.
	SourceErrors map[string]string `json:"source_errors,omitempty"`
}

// Get returns a metric and whether it was measured.
func (s Sample) Get(name string) (float64, bool) {
	v, ok := s.Values[name]
	return v, ok
}

// Source produces samples.
type Source interface {
	// Name describes the source (e.g. "self", "pid 1234", "http://.../stats").
	Name() string
	// Sample reads every metric the source knows.
	Sample(ctx context.Context) (Sample, error)
}

// Metrics returns the names of the measured metrics, sorted.
func (s Sample) Metrics() []string {
	out := make([]string, 0, len(s.Values))
	for k := range s.Values {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// newSample starts a sample of a source at now.
func newSample() Sample {
	return Sample{Time: time.Now(), Values: map[string]float64{}, Unavailable: map[string]string{}, Origin: map[string]string{}}
}

// set records a measured metric from a source.
func (s *Sample) set(name string, v float64, origin string) {
	s.Values[name] = v
	s.Origin[name] = origin
	delete(s.Unavailable, name)
}

// unavailable records a metric a source could not measure, unless it was measured.
func (s *Sample) unavailable(name, reason string) {
	if _, ok := s.Values[name]; ok {
		return
	}
	s.Unavailable[name] = reason
}
