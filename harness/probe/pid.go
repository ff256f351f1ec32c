package probe

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/shirou/gopsutil/v4/process"
)

// ErrProcessGone is returned (wrapped) by a PID source whose process has exited.
var ErrProcessGone = errors.New("process is not running")

// PIDOptions configure a PID source.
type PIDOptions struct {
	// Children adds the fds, RSS, threads and CPU of all descendants
	// (found by scanning /proc, so it costs more per sample).
	Children bool
}

type pidSource struct {
	pid  int32
	opts PIDOptions
	p    *process.Process
	name string
}

// PID measures another process through gopsutil: fds, RSS, threads and
// CPU time (user+system), optionally summed over its descendants. Heap
// and goroutines are reported unavailable: read them from the target's
// stats endpoint (Combine with HTTPStats).
func PID(pid int, opts PIDOptions) (Source, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("probe: pid %d: want > 0", pid)
	}
	p, err := process.NewProcess(int32(pid))
	if err != nil {
		if errors.Is(err, process.ErrorProcessNotRunning) {
			return nil, fmt.Errorf("probe: pid %d: %w", pid, ErrProcessGone)
		}
		return nil, fmt.Errorf("probe: pid %d: %w", pid, err)
	}
	return &pidSource{pid: int32(pid), opts: opts, p: p, name: "pid " + strconv.Itoa(pid)}, nil
}

func (s *pidSource) Name() string { return s.name }

func (s *pidSource) Sample(ctx context.Context) (Sample, error) {
	ok, err := process.PidExistsWithContext(ctx, s.pid)
	if err != nil {
		return Sample{}, fmt.Errorf("probe: %s: %w", s.name, err)
	}
	if !ok {
		return Sample{}, fmt.Errorf("probe: %s: %w", s.name, ErrProcessGone)
	}
	procs := []*process.Process{s.p}
	if s.opts.Children {
		procs = append(procs, descendants(ctx, s.p)...)
	}
	smp := newSample()
	var fds, rss, threads, cpu float64
	var fdErr, rssErr, thrErr, cpuErr error
	for i, p := range procs {
		// A descendant that exits mid-sample is skipped; only the main
		// process's errors make a metric unavailable.
		main := i == 0
		if n, err := p.NumFDsWithContext(ctx); err == nil {
			fds += float64(n)
		} else if main {
			fdErr = err
		}
		if m, err := p.MemoryInfoWithContext(ctx); err == nil {
			rss += float64(m.RSS)
		} else if main {
			rssErr = err
		}
		if n, err := p.NumThreadsWithContext(ctx); err == nil {
			threads += float64(n)
		} else if main {
			thrErr = err
		}
		if t, err := p.TimesWithContext(ctx); err == nil {
			cpu += t.User + t.System
		} else if main {
			cpuErr = err
		}
	}
	put := func(name string, v float64, err error) {
		if err != nil {
			smp.unavailable(name, fmt.Sprintf("%s: %v", s.name, err))
			return
		}
		smp.set(name, v, s.name)
	}
	put(FDs, fds, fdErr)
	put(RSS, rss, rssErr)
	put(Threads, threads, thrErr)
	put(CPU, cpu, cpuErr)
	smp.unavailable(Heap, s.name+": heap is not measurable from outside the process (use its stats endpoint)")
	smp.unavailable(Goroutines, s.name+": goroutines are not measurable from outside the process (use its stats endpoint)")
	if fdErr != nil && rssErr != nil {
		// Everything failed: most likely the process exited meanwhile.
		if ok, _ := process.PidExistsWithContext(ctx, s.pid); !ok {
			return Sample{}, fmt.Errorf("probe: %s: %w", s.name, ErrProcessGone)
		}
	}
	return smp, nil
}

func descendants(ctx context.Context, p *process.Process) []*process.Process {
	var out []*process.Process
	kids, err := p.ChildrenWithContext(ctx)
	if err != nil {
		return nil
	}
	for _, k := range kids {
		out = append(out, k)
		out = append(out, descendants(ctx, k)...)
	}
	return out
}
