package gates

import (
	"context"
	"fmt"
	"time"

	"github.com/gitchaos/gitchaos/harness/eventually"
	"github.com/gitchaos/gitchaos/harness/result"
)

// Work after a restart (issue 26, item 6). boot and crash-restart check
// that scopes serve after a (re)start, and a server serves those from the
// clones on disk: a server whose git pool is dead after the restart (OPAL
// under gunicorn at a20489a3: the master preloads the scopes and builds the
// pool, then forks the workers, and nothing rebuilds the pool in them)
// passes them. So after the (re)start, once the gate's other checks are
// judged, the gate does new git work and waits for it:
//   - a push to a scope's repo followed by POST /scopes/{id}/refresh must
//     bring the newest commit (a fetch);
//   - a scope put on a repo no scope used before must serve (a clone).
//
// Both run at once and are polled without re-requesting anything (a
// nudge would be more work submitted, which is what unsticks a pool that
// has fewer dead threads than its size).

// restartWork is the two operations: a scope whose repo gets a push and a
// refresh, and a new scope on a fresh repo.
type restartWork struct {
	refreshID string
	refreshOn *Repo
	newID     string
	newRepo   Repo
	// when names the (re)start in explanations ("the cold start", "the
	// SIGKILL restart").
	when string
	// budget and why: the time each operation gets and how it was
	// derived (0: restartWorkBudget).
	budget time.Duration
	why    string
}

// restartWorkBudget is the time each operation gets: one fetch or clone
// bounded by the git timeout, a second attempt (a server may retry once),
// and 5 s for a loaded 2-core machine and the poll. It returns the budget
// and how it was derived.
func (s *S) restartWorkBudget() (time.Duration, string) {
	b := 2*s.Settings.GitTimeout + 5*time.Second
	return b, fmt.Sprintf("budget 2 × git timeout (%v) + 5 s: one operation bounded by the timeout, one retry, slack for a loaded machine", s.Settings.GitTimeout)
}

// run pushes, refreshes, puts the new scope and returns the two checks'
// records (the gate records them as its declared checks): the refresh's
// and the new scope's.
func (w restartWork) run(ctx context.Context, s *S) (refresh, newScope result.Check, err error) {
	budget, why := w.budget, w.why
	if budget <= 0 {
		budget, why = s.restartWorkBudget()
	}
	if err := s.scopes.Push(ctx, w.refreshOn); err != nil {
		return refresh, newScope, err
	}
	want := map[string]string{w.refreshID: w.refreshOn.Head, w.newID: w.newRepo.Head}
	start := time.Now()
	refreshErr := s.Client.Refresh(ctx, w.refreshID)
	if refreshErr != nil {
		s.Logf("refresh %s after %s: %v", w.refreshID, w.when, refreshErr)
	}
	putAt := time.Since(start)
	if err := s.scopes.Put(ctx, []string{w.newID}, []string{w.newRepo.URL()}); err != nil {
		return refresh, newScope, err
	}
	at, out := s.scopes.ServedFrom(ctx, []string{w.refreshID, w.newID}, want, budget+putAt, start, 0)
	if d, ok := at[w.refreshID]; ok {
		refresh = secondsLE(d, budget,
			fmt.Sprintf("after %s a commit pushed to %s and POST /scopes/%s/refresh: the scope served %s %v after the refresh; %s",
				w.when, w.refreshOn.Name, w.refreshID, short(w.refreshOn.Head), d.Round(time.Millisecond), why))
	} else {
		obs := w.now(ctx, s, w.refreshID, w.refreshOn.Head, out)
		if refreshErr != nil {
			obs += "; the refresh request failed: " + refreshErr.Error()
		}
		refresh = failed(obs, fmt.Sprintf("serves %s within %v", short(w.refreshOn.Head), budget),
			fmt.Sprintf("after %s a commit pushed to %s and a refresh requested: the scope never served it within %v (%s); a git pool that does not run work after the restart (threads that did not survive a fork) looks like this", w.when, w.refreshOn.Name, budget, why))
	}
	if d, ok := at[w.newID]; ok {
		d -= putAt
		newScope = secondsLE(d, budget,
			fmt.Sprintf("after %s scope %s put on %s (a source no scope used before): cloned and served %v after the put; %s",
				w.when, w.newID, w.newRepo.Name, d.Round(time.Millisecond), why))
	} else {
		newScope = failed(w.now(ctx, s, w.newID, w.newRepo.Head, out), fmt.Sprintf("serves %s within %v", short(w.newRepo.Head), budget),
			fmt.Sprintf("after %s scope %s put on %s (a new source): never served within %v (%s); a server whose git pool is dead after the restart never clones it", w.when, w.newID, w.newRepo.Name, budget, why))
	}
	return refresh, newScope, nil
}

// secondsLE is the record of "d <= budget" in seconds (recorder.LE's).
func secondsLE(d, budget time.Duration, explain string) result.Check {
	v := result.Pass
	if d > budget {
		v = result.Fail
	}
	return result.Check{Measured: result.FormatValue(d.Seconds(), unitSeconds), Budget: "<= " + result.FormatValue(budget.Seconds(), unitSeconds),
		Value: d.Seconds(), Limit: budget.Seconds(), Unit: unitSeconds, Verdict: v, Explanation: explain}
}

// failed is the record of a yes/no check that failed (recorder.True's).
func failed(measured, budget, explain string) result.Check {
	return result.Check{Measured: measured, Budget: budget, Value: 0, Limit: 1, Verdict: result.Fail, Explanation: explain}
}

// now describes what scope id serves at the end of a wait that did not
// see it serve head: the wait's own observation is of whichever scope it
// polled last.
func (w restartWork) now(ctx context.Context, s *S, id, head string, out eventually.Outcome) string {
	b, err := s.Client.Policy(ctx, id)
	switch {
	case err != nil:
		return fmt.Sprintf("%s: %v (after %s)", id, err, out.Describe())
	case b.Hash != head:
		return fmt.Sprintf("%s serves %s, want %s (after %s)", id, short(b.Hash), short(head), out.Describe())
	}
	return fmt.Sprintf("%s serves %s only now, after the budget (%s)", id, short(head), out.Describe())
}
