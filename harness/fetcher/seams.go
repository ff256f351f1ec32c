package fetcher

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// This file and the seams_*.go files hold the seams where a mutant swaps
// in its historical bug: each interface has the correct implementation
// first and the mutant's after it. mutants.go picks them by name.

// errInFlight is returned when a source already has an operation running:
// the later sync skips (single flight).
var errInFlight = errors.New("an operation is already running for this source; skipped")

// errSourceGone is returned when the source was deleted under the operation.
var errSourceGone = errors.New("source deleted")

// ---- the task list (webhook / refresh tasks) ----

// task is one tracked refresh task.
type task struct{ done atomic.Bool }

// taskList tracks refresh tasks; len is the webhook_tasks stat.
type taskList interface {
	add(t *task)
	finish(t *task)
	len() int
}

// tracked removes every task the moment it finishes.
type tracked struct {
	mu sync.Mutex
	m  map[*task]struct{}
}

func (l *tracked) add(t *task) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[*task]struct{}{}
	}
	l.m[t] = struct{}{}
}

func (l *tracked) finish(t *task) {
	t.done.Store(true)
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, t)
}

func (l *tracked) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

// sweepSkipping is the webhook-task-leak mutant, OPAL's _on_webhook before
// PR2: finished tasks are swept only when a new task is added, by removing
// from the list while iterating it, which skips the task after each removed
// one: of a run of finished tasks about half stay.
type sweepSkipping struct {
	mu sync.Mutex
	l  []*task
}

func (l *sweepSkipping) add(t *task) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := 0; i < len(l.l); i++ { // for task in tasks: if task.done(): tasks.remove(task)
		if l.l[i].done.Load() {
			l.l = append(l.l[:i], l.l[i+1:]...) // the next task shifts into i and is skipped
		}
	}
	l.l = append(l.l, t)
}

func (l *sweepSkipping) finish(t *task) { t.done.Store(true) }

func (l *sweepSkipping) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.l)
}

// sweptOnAdd is the sweep-only-on-add mutant, OPAL's _on_webhook after PR2:
// the list is rebuilt without its finished tasks when a new task is added,
// so it holds only running tasks right after a webhook, but finished tasks
// stay until the next webhook comes.
type sweptOnAdd struct {
	mu sync.Mutex
	l  []*task
}

func (l *sweptOnAdd) add(t *task) {
	l.mu.Lock()
	defer l.mu.Unlock()
	running := l.l[:0]
	for _, x := range l.l { // tasks = [t for t in tasks if not t.done()]
		if !x.done.Load() {
			running = append(running, x)
		}
	}
	clear(l.l[len(running):])
	l.l = append(running, t)
}

func (l *sweptOnAdd) finish(t *task) { t.done.Store(true) }

func (l *sweptOnAdd) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.l)
}

// ---- single flight and the source lock ----

// opGuard admits one git operation on a source: enter returns the context
// the operation runs under and the function that ends it.
type opGuard interface {
	enter(ctx context.Context, f *Fetcher, src *source) (context.Context, func(), error)
}

// singleFlight takes the source lock only if it is free (a source with an
// operation running is skipped, never touched twice at once) and records
// the flight so that delete can cancel it.
type singleFlight struct{}

func (singleFlight) enter(ctx context.Context, f *Fetcher, src *source) (context.Context, func(), error) {
	// The lock and the flight record change together under flightMu, so a
	// caller that finds the lock taken also finds the flight to wait for.
	src.flightMu.Lock()
	unlock, ok := f.caches.tryLock(src.id)
	if !ok {
		src.flightMu.Unlock()
		return nil, nil, errInFlight
	}
	fctx, cancel := context.WithCancel(ctx)
	fl := &flight{started: time.Now(), cancel: cancel, done: make(chan struct{}), holds: 1}
	src.flight = fl
	src.flightMu.Unlock()
	release := func() {
		src.flightMu.Lock()
		fl.holds--
		last := fl.holds == 0
		if last {
			unlock()
			src.flight = nil
			src.lastFailed = fl.failed
		}
		src.flightMu.Unlock()
		if last {
			cancel()
			close(fl.done)
		}
	}
	// An operation that outlives its caller (soft-timeout) takes a hold:
	// the flight, and the source lock, last until it ends.
	hold := func() func() {
		src.flightMu.Lock()
		fl.holds++
		src.flightMu.Unlock()
		var once sync.Once
		return func() { once.Do(release) }
	}
	fctx = context.WithValue(fctx, holdKey{}, hold)
	var once sync.Once
	leave := func() { once.Do(release) }
	if src.deleted.Load() { // deleted between lookup and lock: delete may have missed our flight
		leave()
		return nil, nil, errSourceGone
	}
	return fctx, leave, nil
}

// holdKey carries a guarded flight's hold function in its context.
type holdKey struct{}

// holdFlight takes a hold on the flight ctx belongs to (if any); call the
// result when the operation really ends.
func holdFlight(ctx context.Context) func() {
	if h, ok := ctx.Value(holdKey{}).(func() func()); ok {
		return h()
	}
	return func() {}
}

// ---- the fetch stamp ----

// stamper records repos_last_fetched around a clone or fetch that started
// at start.
type stamper interface {
	before(c *caches, sid string, start time.Time)
	success(c *caches, sid string, start time.Time)
}

// stampOnSuccess stamps the start time, only once the operation succeeded.
type stampOnSuccess struct{}

func (stampOnSuccess) before(*caches, string, time.Time)          {}
func (stampOnSuccess) success(c *caches, sid string, t time.Time) { c.stamp(sid, t) }

// stampBefore is the stamp-before-fetch mutant: stamped before the fetch,
// so a failed fetch still counts as fresh and suppresses the next forced
// fetch whose request came before it.
type stampBefore struct{}

func (stampBefore) before(c *caches, sid string, t time.Time) { c.stamp(sid, t) }
func (stampBefore) success(*caches, string, time.Time)        {}

// stampCompletion is the stamp-at-completion mutant: stamped on success
// with the time the fetch ended, so a forced fetch requested while it ran
// (whose commit it may have missed) counts as already fetched.
type stampCompletion struct{}

func (stampCompletion) before(*caches, string, time.Time)          {}
func (stampCompletion) success(c *caches, sid string, _ time.Time) { c.stamp(sid, time.Now()) }

// ---- publishing an operation's result ----

// committer decides whether an operation's result (open repo, stamp) is
// published into the caches; apply does the publishing.
type committer interface {
	commit(src *source, apply func()) bool
}

// commitIfLive publishes only while the source is alive.
type commitIfLive struct{}

func (commitIfLive) commit(src *source, apply func()) bool {
	if src.deleted.Load() {
		return false
	}
	apply()
	return true
}

// commitAlways is part of resurrect-on-delete: a result arriving after the
// delete is put back into the caches.
type commitAlways struct{}

func (commitAlways) commit(_ *source, apply func()) bool { apply(); return true }
