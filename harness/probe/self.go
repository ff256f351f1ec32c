package probe

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/gitchaos/gitchaos/harness/metric"
)

// SelfOptions configure the Self source.
type SelfOptions struct {
	// SkipGC reads the heap without forcing a garbage collection first.
	// By default (false) every sample runs runtime.GC so heap_bytes is the
	// heap in use after GC: the right number for in-process leak checks,
	// at the cost of a collection per sample.
	SkipGC bool
	// NoThreads, when set, leaves threads unmeasured and reports them
	// unavailable with this reason: a Go process's OS threads are the
	// runtime's, created on demand and never given back, so a count that
	// only grows says nothing about a target that shares the process.
	NoThreads string
}

type selfSource struct{ opts SelfOptions }

// Self measures this process: fds and threads from /proc/self, RSS from
// /proc/self/statm, heap in use (after GC unless SkipGC), goroutines, and
// CPU time (user+system) from getrusage. The fd count excludes the
// handle the probe itself holds open while counting. Options are
// optional: Self() is Self(SelfOptions{}); at most one may be given.
func Self(opts ...SelfOptions) Source {
	var o SelfOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	return &selfSource{opts: o}
}

func (s *selfSource) Name() string { return "self" }

func (s *selfSource) Sample(ctx context.Context) (Sample, error) {
	if err := ctx.Err(); err != nil {
		return Sample{}, fmt.Errorf("probe: self: %w", err)
	}
	smp := newSample()
	name := s.Name()
	var st selfState
	if !s.opts.SkipGC {
		runtime.GC()
	}
	runtime.ReadMemStats(&st.mem)
	for _, r := range selfReaders {
		if r.metric == metric.Threads && s.opts.NoThreads != "" {
			smp.unavailable(r.metric, s.opts.NoThreads)
			continue
		}
		v, err := r.read(&st)
		if err != nil {
			smp.unavailable(r.metric, err.Error())
			continue
		}
		smp.set(r.metric, v, name)
	}
	smp.Time = time.Now()
	return smp, nil
}

// selfState is what a Self sample reads once for all its readers: the
// memory statistics right after the GC, before any reader allocates.
type selfState struct{ mem runtime.MemStats }

// selfReader reads one metric of this process.
type selfReader struct {
	metric string
	read   func(st *selfState) (float64, error)
}

// selfReaders read the metrics that harness/metric's table says the Self
// source reads.
var selfReaders = []selfReader{
	{metric.Heap, func(st *selfState) (float64, error) { return float64(st.mem.HeapAlloc), nil }},
	{metric.Goroutines, func(*selfState) (float64, error) { return float64(runtime.NumGoroutine()), nil }},
	{metric.FDs, func(*selfState) (float64, error) {
		n, err := countDir("/proc/self/fd")
		return float64(n - 1), err // minus the directory handle being read
	}},
	{metric.RSS, func(*selfState) (float64, error) { return statmRSS("/proc/self/statm") }},
	{metric.Threads, func(*selfState) (float64, error) { return statusThreads("/proc/self/status") }},
	{metric.CPU, func(*selfState) (float64, error) {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			return 0, fmt.Errorf("getrusage: %w", err)
		}
		return tv(ru.Utime) + tv(ru.Stime), nil
	}},
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// countDir counts the entries of a directory (e.g. /proc/<pid>/fd).
func countDir(path string) (int, error) {
	d, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", path, err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", path, err)
	}
	return len(names), nil
}

// statmRSS reads the resident set size in bytes from a statm file.
func statmRSS(path string) (float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, fmt.Errorf("parse %s: %d fields, want >= 2", path, len(f))
	}
	pages, err := strconv.ParseUint(string(f[1]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", path, err)
	}
	return float64(pages) * float64(os.Getpagesize()), nil
}

// statusThreads reads "Threads:" from a /proc status file.
func statusThreads(path string) (float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("Threads:")); ok {
			n, err := strconv.Atoi(string(bytes.TrimSpace(v)))
			if err != nil {
				return 0, fmt.Errorf("parse %s: Threads: %w", path, err)
			}
			return float64(n), nil
		}
	}
	return 0, fmt.Errorf("parse %s: no Threads: line", path)
}
