package target

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/gitchaos/gitchaos/harness/metric"
	"github.com/gitchaos/gitchaos/harness/probe"
)

// probeSpec says how to sample a target.
type probeSpec struct {
	pid    int      // the process to measure with its tree (0: none)
	marker string   // proctree.Marker entry of the target's processes ("": parent links only)
	label  string   // in-process: pprof label of the target's goroutines
	dirs   []string // base dir and watched dirs, for disk use
	// noPID is why the target's processes cannot be measured (a URL
	// target without --target-pid): fds, RSS, threads and processes are
	// then reported unavailable with this reason.
	noPID string
}

// newProbe samples a target: the stats endpoint always; for an in-process
// target (label set) this process, with goroutines counted exactly as
// those labelled for the target, and the processes carrying its marker
// (its git children); else the process tree of pid when > 0 (root,
// descendants and marked processes); and the disk use of its dirs when
// known. Later sources win where both measure a metric, so a process
// measurement beats the endpoint's own claim.
// inProcessThreads is why an in-process target's threads are not judged.
const inProcessThreads = "the in-process target shares the harness's Go process: its OS threads are the runtime's (created on demand, never given back) and the harness's and testbed's too; goroutines are judged instead"

func newProbe(c *Client, sp probeSpec) (probe.Source, error) {
	// gc=1 asks servers that know it (the reference fetcher) for the heap
	// after GC; others ignore the query.
	stats, err := probe.HTTPStats(c.BaseURL+StatsPath+"?gc=1", probe.HTTPOptions{})
	if err != nil {
		return nil, fmt.Errorf("target probe: %w", err)
	}
	srcs := []probe.Source{stats}
	switch {
	case sp.label != "":
		srcs = append(srcs, probe.Self(probe.SelfOptions{NoThreads: inProcessThreads}), labelledGoroutines{value: sp.label})
		if sp.marker != "" {
			kids, err := probe.Tree(0, probe.TreeOptions{Marker: sp.marker})
			if err != nil {
				return nil, fmt.Errorf("target probe: %w", err)
			}
			srcs = append(srcs, kids)
		}
	case sp.pid > 0:
		p, err := probe.Tree(sp.pid, probe.TreeOptions{Marker: sp.marker})
		if err != nil {
			return nil, fmt.Errorf("target probe: %w", err)
		}
		srcs = append(srcs, p)
	case sp.noPID != "":
		srcs = append(srcs, unmeasured{why: sp.noPID, metrics: metric.Names(func(r metric.Row) bool { return r.ReadBy(metric.Process | metric.Tree) })})
	}
	if len(sp.dirs) > 0 {
		d, err := probe.Dirs(sp.dirs...)
		if err != nil {
			return nil, fmt.Errorf("target probe: %w", err)
		}
		srcs = append(srcs, d)
	}
	src, err := probe.Combine(srcs...)
	if err != nil {
		return nil, fmt.Errorf("target probe: %w", err)
	}
	return src, nil
}

// unmeasured reports metrics as unavailable, with the reason.
type unmeasured struct {
	why     string
	metrics []string
}

func (u unmeasured) Name() string { return "unmeasured" }

func (u unmeasured) Sample(context.Context) (probe.Sample, error) {
	smp := probe.Sample{Time: time.Now(), Values: map[string]float64{}, Unavailable: map[string]string{}}
	for _, m := range u.metrics {
		smp.Unavailable[m] = u.why
	}
	return smp, nil
}

// closeProbe releases a probe's idle connections.
func closeProbe(p probe.Source) {
	if c, ok := p.(io.Closer); ok {
		_ = c.Close()
	}
}

// targetLabel is the pprof label key every goroutine of an in-process
// target carries (inherited from the goroutines that start it), so its
// goroutines can be told from the harness's and the testbed's.
const targetLabel = "gitchaos_target"

// labelledGoroutines counts the goroutines carrying targetLabel=value.
type labelledGoroutines struct{ value string }

func (l labelledGoroutines) Name() string {
	return "goroutines labelled " + targetLabel + "=" + l.value
}

// Stacks returns the target's goroutines grouped by stack.
func (l labelledGoroutines) Stacks() (map[string]int, error) {
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		return nil, fmt.Errorf("goroutine profile: %w", err)
	}
	return labelledStacks(buf.Bytes(), fmt.Sprintf("%q:%q", targetLabel, l.value)), nil
}

func (l labelledGoroutines) Sample(context.Context) (probe.Sample, error) {
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		return probe.Sample{}, fmt.Errorf("goroutine profile: %w", err)
	}
	n := countLabelled(buf.Bytes(), fmt.Sprintf("%q:%q", targetLabel, l.value))
	return probe.Sample{Time: time.Now(), Values: map[string]float64{probe.Goroutines: float64(n)}}, nil
}

// labelledStacks returns the goroutine profile records (debug=1 format)
// whose labels hold want: stack text -> number of goroutines.
func labelledStacks(profile []byte, want string) map[string]int {
	out := map[string]int{}
	var count int
	var labelled bool
	var stack []string
	flush := func() {
		if labelled && count > 0 && len(stack) > 0 {
			out[strings.Join(stack, "\n")] += count
		}
		count, labelled, stack = 0, false, nil
	}
	for _, line := range strings.Split(string(profile), "\n") {
		switch {
		case strings.Contains(line, " @ "):
			flush()
			if n, err := strconv.Atoi(strings.TrimSpace(line[:strings.Index(line, " @ ")])); err == nil {
				count = n
			}
		case strings.HasPrefix(line, "# labels: "):
			labelled = strings.Contains(line, want)
		case strings.HasPrefix(line, "#\t"):
			// "#\t0x4a1b2c\tpkg.func+0x1f\tfile.go:12": keep func and place.
			// Tabs also pad the columns: take the non-empty fields.
			var f []string
			for _, x := range strings.Split(line[2:], "\t") {
				if x = strings.TrimSpace(x); x != "" {
					f = append(f, x)
				}
			}
			if len(f) >= 3 {
				stack = append(stack, f[1]+"  "+f[2])
			} else if len(f) == 2 {
				stack = append(stack, f[1])
			}
		}
	}
	flush()
	return out
}

// countLabelled sums the counts of goroutine profile records (debug=1
// format: "N @ pc..." then "# labels: {...}") whose labels hold want.
func countLabelled(profile []byte, want string) int {
	total, pending := 0, 0
	for _, line := range strings.Split(string(profile), "\n") {
		switch {
		case strings.Contains(line, " @ "):
			pending = 0
			if n, err := strconv.Atoi(strings.TrimSpace(line[:strings.Index(line, " @ ")])); err == nil {
				pending = n
			}
		case strings.HasPrefix(line, "# labels: "):
			if strings.Contains(line, want) {
				total += pending
			}
			pending = 0
		}
	}
	return total
}
