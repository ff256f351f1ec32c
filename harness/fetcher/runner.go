package fetcher

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"
)

// errConnFailure marks a connection that was refused, reset or unreachable.
var errConnFailure = errors.New("connection failure")

// errTimeout marks a git operation that hit the per-operation timeout.
var errTimeout = errors.New("git operation timed out")

// opRunner runs one git operation on the pool under the per-operation
// timeout. op gets the context that bounds it; abandon (may be nil) is
// called when op succeeds after the caller stopped waiting for it, to
// release what op produced. Implementations: deadlineRunner (correct),
// noDeadlineRunner (no-timeout), softTimeoutRunner (soft-timeout),
// inactivityRunner (inactivity-timeout).
type opRunner interface {
	run(ctx context.Context, pool gitPool, host string, op func(context.Context) error, abandon func()) error
}

// deadlineRunner gives op, once it has a worker, a context with the
// timeout: the deadline really ends the operation (go-git honours it even
// through a blackhole), so the worker is free again at the deadline.
type deadlineRunner struct {
	f       *Fetcher
	timeout time.Duration // <= 0: none
}

func (r deadlineRunner) run(ctx context.Context, pool gitPool, host string, op func(context.Context) error, _ func()) error {
	return pool.do(ctx, host, func() error {
		opCtx, cancel := ctx, context.CancelFunc(func() {})
		if r.timeout > 0 {
			opCtx, cancel = context.WithTimeout(ctx, r.timeout)
		}
		defer cancel()
		r.f.inFlight.Add(1)
		err := op(opCtx)
		r.f.inFlight.Add(-1)
		return classify(ctx, opCtx, r.timeout, err)
	})
}

// noDeadlineRunner is the no-timeout mutant: op runs with no deadline (only
// Close or a delete can end it).
type noDeadlineRunner struct{ f *Fetcher }

func (r noDeadlineRunner) run(ctx context.Context, pool gitPool, host string, op func(context.Context) error, _ func()) error {
	return pool.do(ctx, host, func() error {
		r.f.inFlight.Add(1)
		err := op(ctx)
		r.f.inFlight.Add(-1)
		return classify(ctx, ctx, 0, err)
	})
}

// softTimeoutRunner is asyncio.wait_for over run_in_executor: the caller
// stops waiting at the timeout (counted from submission, as wait_for does),
// but op goes on in its goroutine, holding its pool worker, with no
// deadline until it ends by itself (or Close). With keepSource (the
// soft-timeout mutant, OPAL's final in-flight guard) the source stays busy
// until op ends; without it (no-inflight-guard, PR3 before that guard) the
// source lock is let go at the timeout, and the next sync starts a second
// operation beside the one still running.
type softTimeoutRunner struct {
	f          *Fetcher
	timeout    time.Duration
	keepSource bool
}

func (r softTimeoutRunner) run(ctx context.Context, pool gitPool, host string, op func(context.Context) error, abandon func()) error {
	opCtx := r.f.strat.dial.on(withAuth(r.f.rootCtx, authFrom(ctx))) // no deadline, not even the caller's
	done := make(chan error, 1)
	var mu sync.Mutex
	left, finished := false, false
	unhold := func() {}
	if r.keepSource { // the flight (and the source lock) is held until op ends
		unhold = holdFlight(ctx)
	}
	ok := r.f.goBackground(func() {
		defer unhold()
		err := pool.do(opCtx, host, func() error {
			r.f.inFlight.Add(1)
			err := op(opCtx)
			r.f.inFlight.Add(-1)
			return classify(opCtx, opCtx, 0, err)
		})
		mu.Lock()
		finished = true
		gone := left
		mu.Unlock()
		if gone {
			if err == nil && abandon != nil {
				abandon()
			}
			return
		}
		done <- err
	})
	if !ok {
		unhold()
		return errors.New("git operation not started: fetcher closed")
	}
	var timer <-chan time.Time
	if r.timeout > 0 {
		t := time.NewTimer(r.timeout)
		defer t.Stop()
		timer = t.C
	}
	stopWaiting := func() bool { // false: op already finished, take its result
		mu.Lock()
		defer mu.Unlock()
		if finished {
			return false
		}
		left = true
		return true
	}
	select {
	case err := <-done:
		return err
	case <-timer:
		if !stopWaiting() {
			return <-done
		}
		return fmt.Errorf("%w: %w after %v (the operation goes on)", errHostFailure, errTimeout, r.timeout)
	case <-ctx.Done():
		if !stopWaiting() {
			return <-done
		}
		return fmt.Errorf("git operation abandoned: %w", ctx.Err())
	}
}

// classify wraps op's error: a deadline of opCtx is a timeout (a host
// failure, fed to the breaker); a refused or reset connection is marked
// errConnFailure. go-git's
// plumbing.UnexpectedError does not unwrap, so the contexts are tested, not
// the error chain.
func classify(parent, opCtx context.Context, timeout time.Duration, err error) error {
	if err == nil {
		return nil
	}
	if parent.Err() != nil {
		return fmt.Errorf("git operation canceled: %w (%v)", parent.Err(), err)
	}
	if errors.Is(opCtx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w after %v", errHostFailure, errTimeout, timeout)
	}
	if isConnFailure(err) {
		// Refused or reset connections fail fast by themselves: they do not
		// open the breaker (which would delay recovery once the host is back).
		return fmt.Errorf("%w: %w", errConnFailure, err)
	}
	return err
}

func isConnFailure(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return true
	}
	s := err.Error()
	for _, m := range []string{"connection refused", "connection reset", "no route to host", "i/o timeout", "no such host"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}
