package gates

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/harness/eventually"
	"github.com/gitchaos/gitchaos/harness/target"
	"github.com/gitchaos/gitchaos/harness/testbed"
)

// Stats reads the target's stats endpoint; ok is false when it has none.
func (s *S) Stats(ctx context.Context) (map[string]float64, bool, error) {
	st, err := s.Client.Stats(ctx)
	if target.IsStatus(err, http.StatusNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return st, true, nil
}

// heldPlateau is how long the number of held requests must stay the same,
// with at least one held, for waitHeld to accept fewer than it wants: the
// target holds no more at once (its own caps, below the settings).
const heldPlateau = time.Second

// waitHeld polls the git servers until want of the repos have a request
// in flight (held inside the server by a hang fault, say), or at least
// one has and the count has not moved for heldPlateau, or the timeout
// passes. It returns the outcome and how many were held. Callers want
// min(len(repos), max_workers): a target runs at most its pool at once.
func (s *S) waitHeld(ctx context.Context, repos []Repo, want int, timeout, interval time.Duration) (eventually.Outcome, int) {
	want = max(1, min(want, len(repos)))
	last, since := -1, time.Now()
	held := 0
	out := eventually.Poll(ctx, timeout, interval, func(ctx context.Context) (bool, string, error) {
		all := map[*testbed.Host]map[string]gitserver.Counters{}
		n := 0
		for _, r := range repos {
			cs, ok := all[r.Host]
			if !ok {
				var err error
				if cs, err = r.Host.Admin.AllCounters(ctx); err != nil {
					return false, "", fmt.Errorf("counters of %s: %w", r.Host.Name, err)
				}
				all[r.Host] = cs
			}
			if cs[r.Name].InFlight > 0 {
				n++
			}
		}
		if n != last {
			last, since = n, time.Now()
		}
		held = n
		obs := fmt.Sprintf("%d/%d repos have a request in flight (want %d)", n, len(repos), want)
		return n >= want || (n > 0 && time.Since(since) >= heldPlateau), obs, nil
	})
	return out, held
}

// statsZero polls the stats endpoint until every one of keys that the
// target reports is 0, or the timeout passes. known is false when the
// target has no stats endpoint or none of the keys: then nothing was
// waited for and the outcome is OK.
func (s *S) statsZero(ctx context.Context, timeout time.Duration, keys ...string) (out eventually.Outcome, known bool) {
	known = true
	out = eventually.Poll(ctx, timeout, 20*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		st, ok, err := s.Stats(ctx)
		if err != nil {
			return false, "", err
		}
		busy, seen := 0.0, 0
		var obs []string
		for _, k := range keys {
			if v, has := st[k]; ok && has {
				busy += v
				seen++
				obs = append(obs, fmt.Sprintf("%s=%g", k, v))
			}
		}
		if seen == 0 {
			known = false
			return true, "", nil
		}
		return busy == 0, strings.Join(obs, " "), nil
	})
	return out, known
}

// waitIdle waits until no git operation or refresh task is in flight
// (targets without those stats count as idle).
func (s *S) waitIdle(ctx context.Context, timeout time.Duration) eventually.Outcome {
	out, _ := s.statsZero(ctx, timeout, target.StatInFlight, target.StatWebhookTasks)
	return out
}

// settleInFlight waits until the target has no git operation in flight
// (when it reports in_flight).
func (s *S) settleInFlight(ctx context.Context, timeout time.Duration) error {
	if out, _ := s.statsZero(ctx, timeout, target.StatInFlight); !out.OK {
		return fmt.Errorf("operations in flight did not drain in %v: %s", timeout, out.Describe())
	}
	return nil
}
