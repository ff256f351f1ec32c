package flat

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Defaults of SettleOptions.
const (
	DefaultStable   = 3
	DefaultInterval = 50 * time.Millisecond
	DefaultTimeout  = 5 * time.Second
)

// SettleOptions configure Settle. Zero values take the defaults.
type SettleOptions struct {
	// Metric names the count (e.g. "goroutines", "fds", "repos").
	Metric string
	// Unit overrides UnitOf(Metric).
	Unit string
	// Budget is the largest acceptable value (inclusive), e.g. the
	// baseline count, or 0 for "nothing leaked".
	Budget float64
	// Stable is how many consecutive reads must be equal: 0 means 3.
	Stable int
	// Interval between reads: 0 means 50ms.
	Interval time.Duration
	// Timeout bounds the loop: 0 means 5s (an earlier ctx deadline wins).
	Timeout time.Duration
	// Before runs before every read, e.g. http.Client.CloseIdleConnections
	// on every client that talked to the target, so idle keep-alive
	// connections do not count as leaked fds and goroutines.
	Before []func(ctx context.Context)
	// Detail, if set, is called once when the check fails; its text (e.g.
	// the leaked goroutines' stacks) goes into SettleResult.Detail.
	Detail func() string
}

// Validate reports a bad option.
func (o SettleOptions) Validate() error {
	var errs []error
	if o.Metric == "" {
		errs = append(errs, errors.New("metric name is empty"))
	}
	if o.Stable < 0 {
		errs = append(errs, fmt.Errorf("stable %d: want >= 1", o.Stable))
	}
	if o.Interval < 0 {
		errs = append(errs, fmt.Errorf("interval %v: want > 0", o.Interval))
	}
	if o.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %v: want > 0", o.Timeout))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("flat: settle options: %w", err)
	}
	return nil
}

// SettleResult is the outcome of a settle loop.
type SettleResult struct {
	Metric string  `json:"metric"`
	Unit   string  `json:"unit"`
	Value  float64 `json:"value"` // last value read
	Budget float64 `json:"budget"`
	OK     bool    `json:"ok"`     // stable and within budget before the deadline
	Stable bool    `json:"stable"` // the last StableReads reads were equal
	// StableReads is how many equal reads counted as stable.
	StableReads int           `json:"stable_reads"`
	Attempts    int           `json:"attempts"`
	Elapsed     time.Duration `json:"elapsed"`
	// Seen lists the distinct values read, in order of change (at most 16).
	Seen []float64 `json:"seen"`
	// LastErr is the last read error, if the last read failed.
	LastErr string `json:"last_error,omitempty"`
	// Detail is the failure detail (e.g. grouped leaked goroutine stacks).
	Detail string `json:"detail,omitempty"`
}

// Settle polls read until the value is the same for Stable consecutive
// reads and is <= Budget, or the timeout (or ctx) ends the loop. Before
// each read it runs the Before hooks. The result holds the last value; it
// is an error only when options are bad or no read ever succeeded.
func Settle(ctx context.Context, read func(ctx context.Context) (float64, error), opts SettleOptions) (SettleResult, error) {
	if err := opts.Validate(); err != nil {
		return SettleResult{}, err
	}
	if read == nil {
		return SettleResult{}, fmt.Errorf("flat: settle %s: read func is nil", opts.Metric)
	}
	if opts.Stable == 0 {
		opts.Stable = DefaultStable
	}
	if opts.Interval == 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	unit := opts.Unit
	if unit == "" {
		unit = UnitOf(opts.Metric)
	}
	r := SettleResult{Metric: opts.Metric, Unit: unit, Budget: opts.Budget, StableReads: opts.Stable}
	start := time.Now()
	// The loop ends on its own timer; reads get a context whose deadline
	// is a little later and is cancelled before it fires, so the
	// context's timer never starts a goroutine (which would show up as a
	// goroutine "leak" in the very count being settled).
	end := time.NewTimer(opts.Timeout)
	defer end.Stop()
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout+time.Second)
	defer cancel()
	tick := time.NewTicker(opts.Interval)
	defer tick.Stop()
	run, have := 0, false
	for {
		for _, f := range opts.Before {
			f(ctx)
		}
		v, err := read(ctx)
		r.Attempts++
		if err != nil {
			r.LastErr = err.Error()
			run = 0
		} else {
			r.LastErr = ""
			if have && v == r.Value {
				run++
			} else {
				run = 1
				if len(r.Seen) < 16 {
					r.Seen = append(r.Seen, v)
				}
			}
			r.Value, have = v, true
			r.Stable = run >= opts.Stable
			if r.Stable && v <= opts.Budget {
				r.OK = true
				break
			}
		}
		select {
		case <-ctx.Done():
		case <-end.C:
		case <-tick.C:
			continue
		}
		break
	}
	r.Elapsed = time.Since(start)
	if !have {
		return r, fmt.Errorf("flat: settle %s: no successful read in %d attempts over %v: %s",
			opts.Metric, r.Attempts, r.Elapsed.Round(time.Millisecond), r.LastErr)
	}
	if !r.OK && opts.Detail != nil {
		r.Detail = opts.Detail()
	}
	return r, nil
}

// String is the one-line verdict, e.g.
//
//	NOT SETTLED fds: 13 fds > budget 12 fds after 100 reads in 5s (seen 15, 14, 13; stable)
func (r SettleResult) String() string {
	var b strings.Builder
	val := formatValue(r.Value, r.Unit, false)
	bud := formatBudget(r.Budget, r.Unit) // with its unit
	el := r.Elapsed.Round(time.Millisecond)
	if r.OK {
		fmt.Fprintf(&b, "settled %s: %s <= budget %s, stable for %d reads after %d reads in %v", r.Metric, val, bud, r.StableReads, r.Attempts, el)
		return b.String()
	}
	cmp := ">"
	if r.Value <= r.Budget {
		cmp = "<="
	}
	fmt.Fprintf(&b, "NOT SETTLED %s: %s %s budget %s after %d reads in %v (seen %s", r.Metric, val, cmp, bud, r.Attempts, el, r.seenText())
	if r.Stable {
		b.WriteString("; stable")
	} else {
		b.WriteString("; still changing")
	}
	if r.LastErr != "" {
		fmt.Fprintf(&b, "; last read failed: %s", r.LastErr)
	}
	b.WriteString(")")
	return b.String()
}

func (r SettleResult) seenText() string {
	parts := make([]string, len(r.Seen))
	for i, v := range r.Seen {
		parts[i] = trimFloat(v)
	}
	return strings.Join(parts, ", ")
}
