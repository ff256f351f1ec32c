package gates

import (
	"context"
	"fmt"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/testbed"
)

// Units used by checks.
const (
	unitSeconds = "s"
	unitCount   = "count"
	unitBytes   = "bytes"
)

// RepoFault sets a server-side fault on one repo and records it; it is
// cleared when the scenario ends if the scenario does not clear it first.
func (s *S) RepoFault(ctx context.Context, h *testbed.Host, repo string, f gitserver.Fault) (func(context.Context) error, error) {
	if err := h.Admin.SetFault(ctx, repo, f); err != nil {
		return nil, fmt.Errorf("server fault %s on %s/%s: %w", f.Mode, h.Name, repo, err)
	}
	s.logFault(h.Name, repo, "server:"+string(f.Mode), result.FaultInject)
	done := false
	undo := func(ctx context.Context) error {
		s.mu.Lock()
		if done {
			s.mu.Unlock()
			return nil
		}
		done = true
		s.mu.Unlock()
		err := h.Admin.ClearFault(ctx, repo)
		s.logFault(h.Name, repo, "server:"+string(f.Mode), result.FaultRecover)
		return err
	}
	s.mu.Lock()
	s.undo = append(s.undo, undo)
	s.mu.Unlock()
	return undo, nil
}
