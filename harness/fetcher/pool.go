package fetcher

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// gitPool runs git operations with bounded concurrency. Implementations:
// hostGuard (correct: per-host bulkhead + breaker in front of the global
// workers) and fifoPool (no-host-bulkhead: one FIFO pool).
type gitPool interface {
	// do waits for a slot for host and runs op; it returns op's error, a
	// context error while waiting, or an *openCircuitError.
	do(ctx context.Context, host string, op func() error) error
}

// sem is a counting semaphore; blocked acquirers are served in FIFO order
// (Go's channel send queue is FIFO).
type sem chan struct{}

func (s sem) acquire(ctx context.Context) error {
	select {
	case s <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s sem) release() { <-s }

// fifoPool is the no-host-bulkhead mutant, the upstream design: one FIFO
// pool for every git operation.
type fifoPool struct{ workers sem }

func newFIFOPool(cfg Config) *fifoPool { return &fifoPool{workers: make(sem, cfg.MaxWorkers)} }

func (p *fifoPool) do(ctx context.Context, _ string, op func() error) error {
	if err := p.workers.acquire(ctx); err != nil {
		return fmt.Errorf("waiting for a git worker: %w", err)
	}
	defer p.workers.release()
	return op()
}

// hostGuard is the correct pool: an op first takes a slot of its host's
// bulkhead (so a dead host's queue never holds global workers), passes the
// host's circuit breaker, then takes a global worker.
type hostGuard struct {
	workers   sem
	hostCap   int
	threshold int
	backoff   time.Duration
	now       func() time.Time

	mu    sync.Mutex
	hosts map[string]*hostState
}

type hostState struct {
	slots sem
	// breaker
	fails    int       // consecutive timeouts / connection failures
	openedAt time.Time // zero when closed
	probing  bool      // a half-open probe is running
}

// openCircuitError is returned for ops refused by an open breaker.
type openCircuitError struct{ host string }

func (e *openCircuitError) Error() string { return "circuit open for host " + e.host }

// errHostFailure marks an op failure that counts against the host's breaker
// (a timeout: the host accepted and hung); ops wrap it with %w.
var errHostFailure = errors.New("host failure")

func newHostGuard(cfg Config) *hostGuard {
	return &hostGuard{
		workers:   make(sem, cfg.MaxWorkers),
		hostCap:   cfg.HostCap,
		threshold: cfg.BreakerThreshold,
		backoff:   cfg.BreakerBackoff,
		now:       time.Now,
		hosts:     map[string]*hostState{},
	}
}

func (g *hostGuard) host(h string) *hostState {
	g.mu.Lock()
	defer g.mu.Unlock()
	hs := g.hosts[h]
	if hs == nil {
		hs = &hostState{slots: make(sem, g.hostCap)}
		g.hosts[h] = hs
	}
	return hs
}

// admit asks the breaker; probe reports a half-open probe.
func (g *hostGuard) admit(host string, hs *hostState) (probe bool, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if hs.openedAt.IsZero() {
		return false, nil
	}
	if hs.probing || g.now().Sub(hs.openedAt) < g.backoff {
		return false, &openCircuitError{host: host}
	}
	hs.probing = true
	return true, nil
}

func (g *hostGuard) report(hs *hostState, probe bool, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if probe {
		hs.probing = false
	}
	switch {
	case err == nil:
		hs.fails, hs.openedAt = 0, time.Time{}
	case errors.Is(err, errHostFailure):
		hs.fails++
		if probe || hs.fails >= g.threshold {
			hs.openedAt = g.now()
		}
	}
	// other errors (repo gone, auth, canceled) say nothing about the host
}

func (g *hostGuard) do(ctx context.Context, host string, op func() error) error {
	hs := g.host(host)
	if _, err := g.admitPeek(host, hs); err != nil {
		return err
	}
	if err := hs.slots.acquire(ctx); err != nil {
		return fmt.Errorf("waiting for a slot on host %s: %w", host, err)
	}
	defer hs.slots.release()
	probe, err := g.admit(host, hs) // the breaker may have opened while we queued
	if err != nil {
		return err
	}
	if err := g.workers.acquire(ctx); err != nil {
		g.report(hs, probe, err) // a context error: only ends the probe
		return fmt.Errorf("waiting for a git worker: %w", err)
	}
	defer g.workers.release()
	err = op()
	g.report(hs, probe, err)
	return err
}

// admitPeek fails fast before queueing when the breaker is open and not
// due for a probe.
func (g *hostGuard) admitPeek(host string, hs *hostState) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !hs.openedAt.IsZero() && (hs.probing || g.now().Sub(hs.openedAt) < g.backoff) {
		return false, &openCircuitError{host: host}
	}
	return false, nil
}
