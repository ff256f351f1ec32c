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

	"github.com/gitchaos/gitchaos/harness/metric"
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
	if t.errs[metric.FDs] == nil && t.vals[metric.FDs] == 0 {
		// A live process always has some fd open; none means a zombie
		// whose fd table is already gone.
		if st, err := s.p.StatusWithContext(ctx); err == nil && len(st) > 0 && st[0] == process.Zombie {
			return Sample{}, fmt.Errorf("probe: %s: zombie: %w", s.name, ErrProcessGone)
		}
	}
	t.put(&smp, s.name)
	if t.gone() {
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

// processReader reads one metric of one process.
type processReader struct {
	metric string
	read   func(ctx context.Context, p *process.Process) (float64, error)
}

// processReaders read the metrics that harness/metric's table says a
// process source (PID, and Tree summed over its processes) reads.
var processReaders = []processReader{
	{metric.FDs, func(ctx context.Context, p *process.Process) (float64, error) {
		n, err := p.NumFDsWithContext(ctx)
		return float64(n), err
	}},
	{metric.RSS, func(ctx context.Context, p *process.Process) (float64, error) {
		m, err := p.MemoryInfoWithContext(ctx)
		if err != nil {
			return 0, err
		}
		return float64(m.RSS), nil
	}},
	{metric.Threads, func(ctx context.Context, p *process.Process) (float64, error) {
		n, err := p.NumThreadsWithContext(ctx)
		return float64(n), err
	}},
	{metric.CPU, func(ctx context.Context, p *process.Process) (float64, error) {
		c, err := p.TimesWithContext(ctx)
		if err != nil {
			return 0, err
		}
		return c.User + c.System, nil
	}},
}

// processTotals are the processReaders' metrics summed over a set of
// processes, with the first process's errors: a process that exits
// mid-sample is skipped, only the first one's failure makes a metric
// unavailable.
type processTotals struct {
	vals map[string]float64
	errs map[string]error
}

// sumProcesses measures procs; procs[0] is the process whose errors count.
func sumProcesses(ctx context.Context, procs []*process.Process) processTotals {
	t := processTotals{vals: map[string]float64{}, errs: map[string]error{}}
	for i, p := range procs {
		for _, r := range processReaders {
			v, err := r.read(ctx, p)
			if err == nil {
				t.vals[r.metric] += v
			} else if i == 0 {
				t.errs[r.metric] = err
			}
		}
	}
	return t
}

// gone reports whether fds and RSS both failed: most likely the process
// exited meanwhile.
func (t processTotals) gone() bool {
	return t.errs[metric.FDs] != nil && t.errs[metric.RSS] != nil
}

// put records the totals in smp (unavailable with the reason where the
// first process failed) and marks unmeasurable the metrics only the
// process itself can tell (heap, goroutines).
func (t processTotals) put(smp *Sample, name string) {
	for _, r := range processReaders {
		if err := t.errs[r.metric]; err != nil {
			smp.unavailable(r.metric, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		smp.set(r.metric, t.vals[r.metric], name)
	}
	for _, m := range insideOnly() {
		smp.unavailable(m, fmt.Sprintf("%s: %s is not measurable from outside the process (use its stats endpoint)", name, m))
	}
}

// insideOnly are the metrics that only the process itself can tell: read
// in-process (Self), never from outside (Process); a stats endpoint is the
// only outside window on them.
func insideOnly() []string {
	return metric.Names(func(r metric.Row) bool { return r.ReadBy(metric.Self) && !r.ReadBy(metric.Process) })
}
