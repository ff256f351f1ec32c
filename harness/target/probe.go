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

	"github.com/gitchaos/gitchaos/harness/probe"
)

// newProbe samples a target: the stats endpoint always; for an in-process
// target (label set) this process, with goroutines counted exactly as
// those labelled for the target; else the pid when > 0; and the
// base dir's disk use when known. Later sources win where both measure a
// metric, so a process measurement beats the endpoint's own claim.
func newProbe(pid int, c *Client, baseDir string, label string) (probe.Source, error) {
	// gc=1 asks servers that know it (the reference fetcher) for the heap
	// after GC; others ignore the query.
	stats, err := probe.HTTPStats(c.BaseURL+StatsPath+"?gc=1", probe.HTTPOptions{})
	if err != nil {
		return nil, fmt.Errorf("target probe: %w", err)
	}
	srcs := []probe.Source{stats}
	switch {
	case label != "":
		srcs = append(srcs, probe.Self(probe.SelfOptions{}), labelledGoroutines{value: label})
	case pid > 0:
		p, err := probe.PID(pid, probe.PIDOptions{})
		if err != nil {
			return nil, fmt.Errorf("target probe: %w", err)
		}
		srcs = append(srcs, p)
	}
	if baseDir != "" {
		d, err := probe.Dir(baseDir)
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
