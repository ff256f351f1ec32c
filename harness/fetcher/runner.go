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

// errTimeout marks a git operation that hit the per-operation timeout.
var errTimeout = errors.New("git operation timed out")

// opRunner runs one git operation under the per-operation timeout. op gets
// the context that bounds it; abandon (may be nil) is called when op
// finishes after the caller stopped waiting for it, to release what op
// produced. Implementations: deadlineRunner (correct), noDeadlineRunner
// (no-timeout), softTimeoutRunner (soft-timeout).
type opRunner interface {
	run(ctx context.Context, op func(context.Context) error, abandon func()) error
}

// deadlineRunner gives op a context with the timeout: the deadline really
// ends the operation (go-git honours it through a blackhole).
type deadlineRunner struct {
	f       *Fetcher
	timeout time.Duration // < 0: none
}

func (r deadlineRunner) run(ctx context.Context, op func(context.Context) error, _ func()) error {
	opCtx, cancel := ctx, context.CancelFunc(func() {})
	if r.timeout > 0 {
		opCtx, cancel = context.WithTimeout(ctx, r.timeout)
	}
	defer cancel()
	r.f.inFlight.Add(1)
	err := op(opCtx)
	r.f.inFlight.Add(-1)
	return classify(ctx, opCtx, r.timeout, err)
}

// noDeadlineRunner is the no-timeout mutant: op runs with no deadline.
type noDeadlineRunner struct{ f *Fetcher }

func (r noDeadlineRunner) run(ctx context.Context, op func(context.Context) error, _ func()) error {
	r.f.inFlight.Add(1)
	err := op(ctx)
	r.f.inFlight.Add(-1)
	return classify(ctx, ctx, 0, err)
}

// softTimeoutRunner is the soft-timeout mutant (asyncio.wait_for over a
// thread): the caller stops waiting at the timeout, but op goes on in its
// goroutine with no deadline until it ends by itself (or Close).
type softTimeoutRunner struct {
	f       *Fetcher
	timeout time.Duration
}

func (r softTimeoutRunner) run(ctx context.Context, op func(context.Context) error, abandon func()) error {
	opCtx := r.f.rootCtx // no deadline, not even the caller's
	done := make(chan error, 1)
	var mu sync.Mutex
	left, finished := false, false
	r.f.inFlight.Add(1)
	r.f.goBackground(func() {
		err := op(opCtx)
		r.f.inFlight.Add(-1)
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
		return classify(ctx, opCtx, 0, err)
	case <-timer:
		if !stopWaiting() {
			return classify(ctx, opCtx, 0, <-done)
		}
		return fmt.Errorf("%w: %w after %v (the operation goes on)", errHostFailure, errTimeout, r.timeout)
	case <-ctx.Done():
		if !stopWaiting() {
			return classify(ctx, opCtx, 0, <-done)
		}
		return fmt.Errorf("git operation abandoned: %w", ctx.Err())
	}
}

// classify wraps op's error: a deadline of opCtx is a timeout, a refused or
// unreachable connection a host failure (both feed the breaker). go-git's
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
		return fmt.Errorf("%w: %w", errHostFailure, err)
	}
	return err
}

func isConnFailure(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return true
	}
	s := err.Error()
	for _, m := range []string{"connection refused", "connection reset", "no route to host", "i/o timeout", "no such host", "EOF"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}
