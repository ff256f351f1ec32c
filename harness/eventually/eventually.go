// Package eventually waits for a condition the one way this project
// waits: poll it at an interval until it holds or a deadline passes, never
// sleeping past the deadline, and keep the last observation so that a
// failure says what was seen, not only that time ran out. There is no
// fixed sleep: a wait ends as soon as the condition holds.
//
// Poll serves the scenarios (context-aware, the outcome is data); Within
// serves tests. Waits that fail a test (testing.TB) are in package
// eventuallytest, so that binaries do not link package testing.
package eventually

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Interval is how often Within and eventuallytest.Require poll.
const Interval = 20 * time.Millisecond

// Outcome of a poll.
type Outcome struct {
	OK       bool
	Observed string // the last observation, for failure messages
	Elapsed  time.Duration
	Err      error // the last error from the condition, if any
}

// Describe renders the outcome's last observation and last error.
func (o Outcome) Describe() string {
	if o.Err != nil {
		return fmt.Sprintf("%s (last error: %v)", o.Observed, o.Err)
	}
	return o.Observed
}

// Poll calls cond every interval until it holds (ok and no error), the
// timeout passes or ctx ends. Each call gets a context that ends a second
// after the deadline. When ctx ends between two calls, the outcome keeps
// the previous, complete observation.
func Poll(ctx context.Context, timeout, interval time.Duration, cond func(ctx context.Context) (ok bool, observed string, err error)) Outcome {
	start := time.Now()
	deadline := start.Add(timeout)
	var out Outcome
	for {
		cctx, cancel := context.WithDeadline(ctx, deadline.Add(time.Second))
		ok, obs, err := cond(cctx)
		cancel()
		if !ok && ctx.Err() != nil && out.Elapsed > 0 {
			// Cut short by ctx's end: the previous, complete observation
			// says more about the target than "deadline exceeded".
			out.Err = errors.Join(out.Err, fmt.Errorf("then stopped: %w", ctx.Err()))
			out.Elapsed = time.Since(start)
			return out
		}
		out.Observed, out.Err, out.Elapsed = obs, err, time.Since(start)
		if ok && err == nil {
			out.OK = true
			return out
		}
		left := time.Until(deadline)
		if left <= 0 || ctx.Err() != nil {
			if out.Err == nil && ctx.Err() != nil {
				out.Err = ctx.Err()
			}
			return out
		}
		t := time.NewTimer(min(interval, left))
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

// Within reports whether cond held within timeout, polling every Interval.
func Within(timeout time.Duration, cond func() bool) bool {
	return Poll(context.Background(), timeout, Interval, func(context.Context) (bool, string, error) {
		return cond(), "", nil
	}).OK
}
