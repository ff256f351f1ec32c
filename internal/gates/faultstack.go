package gates

import (
	"context"
	"fmt"
	"sync"

	"github.com/gitchaos/gitchaos/harness/faults"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/testbed"
)

// faultStack injects a scenario's faults, of both kinds, and undoes them:
// each Inject pushes an undo, recoverAll pops every one still there,
// newest first. Every inject and recover is recorded through log, as a
// fault event and its marker.
type faultStack struct {
	// log records one fault event (action result.FaultInject or
	// result.FaultRecover); repo is "" for a network fault.
	log func(host, repo, fault, action string)

	mu   sync.Mutex
	undo []func(context.Context) error
}

// newFaultStack is an empty stack that records through log.
func newFaultStack(log func(host, repo, fault, action string)) *faultStack {
	return &faultStack{log: log}
}

// Inject applies f on host h and records it: a network fault on h's proxy
// (repo must be ""), a repo fault on repo of h's git server. The returned
// undo is idempotent: the first call undoes the fault and records it, later
// calls return what the first returned. Whatever a scenario does not undo
// itself is undone when it ends (recoverAll).
func (fs *faultStack) Inject(ctx context.Context, h *testbed.Host, repo string, f faults.Spec) (func(context.Context) error, error) {
	var undo func(context.Context) error
	var event string // the fault's name in the record
	switch f := f.(type) {
	case faults.Fault:
		if repo != "" {
			return nil, fmt.Errorf("inject %s on %s/%s: a network fault acts on the whole host, not on one repo", f.Name(), h.Name, repo)
		}
		u, err := h.Inject(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("inject %s on %s: %w", f.Name(), h.Name, err)
		}
		undo, event = u, f.Name()
	case faults.RepoFault:
		if repo == "" || h.Admin == nil {
			return nil, fmt.Errorf("server fault %s on %s: want a repo on a host with an admin API (repo %q)", f.Mode, h.Name, repo)
		}
		if err := h.Admin.SetFault(ctx, repo, f.Fault); err != nil {
			return nil, fmt.Errorf("server fault %s on %s/%s: %w", f.Mode, h.Name, repo, err)
		}
		undo = func(ctx context.Context) error { return h.Admin.ClearFault(ctx, repo) }
		event = "server:" + string(f.Mode)
	default:
		return nil, fmt.Errorf("inject %v on %s: a %T is neither a network nor a repo fault", f, h.Name, f)
	}
	fs.log(h.Name, repo, event, result.FaultInject)
	var once sync.Once
	var uerr error
	wrapped := func(ctx context.Context) error {
		once.Do(func() {
			uerr = undo(ctx)
			fs.log(h.Name, repo, event, result.FaultRecover)
		})
		return uerr
	}
	fs.mu.Lock()
	fs.undo = append(fs.undo, wrapped)
	fs.mu.Unlock()
	return wrapped, nil
}

// recoverAll undoes every fault still applied, newest first, and returns
// the first error.
func (fs *faultStack) recoverAll(ctx context.Context) error {
	fs.mu.Lock()
	undo := fs.undo
	fs.undo = nil
	fs.mu.Unlock()
	var first error
	for i := len(undo) - 1; i >= 0; i-- {
		if err := undo[i](ctx); err != nil && first == nil {
			first = err
		}
	}
	return first
}
