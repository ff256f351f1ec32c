package probe

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

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
// stats endpoint (Combine with HTTPStats). Options are optional:
// PID(pid) is PID(pid, PIDOptions{}); at most one may be given. A zombie
// (exited, not yet reaped) process counts as gone.
func PID(pid int, opts ...PIDOptions) (Source, error) {
	if len(opts) > 1 {
		return nil, fmt.Errorf("probe: pid %d: %d option values, want at most 1", pid, len(opts))
	}
	var o PIDOptions
	if len(opts) == 1 {
		o = opts[0]
	}
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
	return &pidSource{pid: int32(pid), opts: o, p: p, name: "pid " + strconv.Itoa(pid)}, nil
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
	t := sumProcesses(ctx, procs)
	if t.errs[0] == nil && t.vals[0] == 0 {
		// A live process always has some fd open; none means a zombie
		// whose fd table is already gone.
		if st, err := s.p.StatusWithContext(ctx); err == nil && len(st) > 0 && st[0] == process.Zombie {
			return Sample{}, fmt.Errorf("probe: %s: zombie: %w", s.name, ErrProcessGone)
		}
	}
	t.put(&smp, s.name)
	if t.errs[0] != nil && t.errs[1] != nil {
		// Everything failed: most likely the process exited meanwhile.
		if ok, _ := process.PidExistsWithContext(ctx, s.pid); !ok {
			return Sample{}, fmt.Errorf("probe: %s: %w", s.name, ErrProcessGone)
		}
	}
	return smp, nil
}

// descendants lists every descendant of p. It reads the kernel's
// /proc/<pid>/task/<tid>/children lists (cheap); where they do not exist
// it falls back to gopsutil's scan of every /proc/<pid>/stat.
func descendants(ctx context.Context, p *process.Process) []*process.Process {
	var out []*process.Process
	kids, err := childPIDs(p.Pid)
	if err != nil {
		ps, err := p.ChildrenWithContext(ctx)
		if err != nil {
			return nil
		}
		for _, k := range ps {
			kids = append(kids, k.Pid)
		}
	}
	for _, pid := range kids {
		k, err := process.NewProcessWithContext(ctx, pid)
		if err != nil {
			continue // exited meanwhile
		}
		out = append(out, k)
		out = append(out, descendants(ctx, k)...)
	}
	return out
}

// childPIDs reads the children of every thread of pid from
// /proc/<pid>/task/<tid>/children (Linux with CONFIG_PROC_CHILDREN).
func childPIDs(pid int32) ([]int32, error) {
	dir := "/proc/" + strconv.Itoa(int(pid)) + "/task"
	tids, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("children of %d: %w", pid, err)
	}
	var out []int32
	for i, tid := range tids {
		b, err := os.ReadFile(dir + "/" + tid.Name() + "/children")
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && i == 0 {
				return nil, fmt.Errorf("children of %d: %w", pid, err)
			}
			continue // the thread exited meanwhile
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.ParseInt(f, 10, 32); err == nil {
				out = append(out, int32(c))
			}
		}
	}
	return out, nil
}

// processTotals are fds, RSS, threads and CPU seconds summed over a set of
// processes (in that order), with the first process's errors: a process
// that exits mid-sample is skipped, only the first one's failure makes a
// metric unavailable.
type processTotals struct {
	vals [4]float64
	errs [4]error
}

var processMetrics = [4]string{FDs, RSS, Threads, CPU}

// sumProcesses measures procs; procs[0] is the process whose errors count.
func sumProcesses(ctx context.Context, procs []*process.Process) processTotals {
	var t processTotals
	for i, p := range procs {
		var vals [4]float64
		var errs [4]error
		var n int32
		n, errs[0] = p.NumFDsWithContext(ctx)
		vals[0] = float64(n)
		if m, err := p.MemoryInfoWithContext(ctx); err == nil {
			vals[1] = float64(m.RSS)
		} else {
			errs[1] = err
		}
		n, errs[2] = p.NumThreadsWithContext(ctx)
		vals[2] = float64(n)
		if c, err := p.TimesWithContext(ctx); err == nil {
			vals[3] = c.User + c.System
		} else {
			errs[3] = err
		}
		for k := range vals {
			if errs[k] == nil {
				t.vals[k] += vals[k]
			} else if i == 0 {
				t.errs[k] = errs[k]
			}
		}
	}
	return t
}

// put records the totals in smp (unavailable with the reason where the
// first process failed) and marks heap and goroutines unmeasurable.
func (t processTotals) put(smp *Sample, name string) {
	for k, m := range processMetrics {
		if t.errs[k] != nil {
			smp.unavailable(m, fmt.Sprintf("%s: %v", name, t.errs[k]))
			continue
		}
		smp.set(m, t.vals[k], name)
	}
	smp.unavailable(Heap, name+": heap is not measurable from outside the process (use its stats endpoint)")
	smp.unavailable(Goroutines, name+": goroutines are not measurable from outside the process (use its stats endpoint)")
}
