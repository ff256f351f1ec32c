package gates

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gitchaos/gitchaos/harness/eventually"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
	"github.com/gitchaos/gitchaos/harness/testbed"
)

// scopeSet is a scenario's scopes on its target and the repos on its
// testbed's hosts they serve from (S.scopes): it names and creates repos
// and pushes to them (helpers_repos.go), puts scopes and waits for them
// to serve, and keeps the ids it put so that teardown deletes them from a
// target that outlives the scenario.
type scopeSet struct {
	// s is the scenario: its name and seed name the repos and scopes, and
	// its Target and Client are read at each call (crash-restart swaps
	// them for a process target mid-run).
	s *S

	mu  sync.Mutex
	put []string // scope ids put, for cleanup on targets that outlive the scenario
	// What attribution to scopes (attrib.go) knows: the live scopes (id ->
	// repo URL), every scope put (id -> URL), the last scope put on each
	// URL, the repos' commits (commit -> URL) and the clones learned.
	live, byID, byURL map[string]string
	commits           map[string]string
	clones            map[string]clone
	// extra, when set by the run, deletes what else it put on a target
	// that outlives it (the soak's extra scopes), before the scopes above.
	extra func(context.Context)
	// content, once watchContent is called, keeps the bundles read for the
	// content check (integrity.go).
	content *contentLog
}

// Host returns testbed host i.
func (ss *scopeSet) Host(i int) *testbed.Host { return ss.s.Testbed.Hosts()[i] }

// ID names scope i of this scenario; against a server the harness did
// not start it carries the seed so reruns don't collide with leftovers.
func (ss *scopeSet) ID(i int) string {
	s := ss.s
	if s.Fresh {
		return fmt.Sprintf("%s-%03d", s.Name, i)
	}
	return fmt.Sprintf("gitchaos-%s-%d-%03d", s.Name, s.Seed, i)
}

// Put creates scopes (id -> repo URL, branch main).
func (ss *scopeSet) Put(ctx context.Context, ids []string, urls []string) error {
	for i, id := range ids {
		if err := ss.PutBranch(ctx, id, urls[i], "main"); err != nil {
			return err
		}
	}
	return nil
}

// PutBranch creates scope id serving branch of the repo at url.
func (ss *scopeSet) PutBranch(ctx context.Context, id, url, branch string) error {
	sc, err := newScope(id, url, branch)
	if err != nil {
		return err
	}
	if err := ss.s.Client.PutScope(ctx, sc); err != nil {
		return fmt.Errorf("put scope %s: %w", id, err)
	}
	ss.mu.Lock()
	ss.put = append(ss.put, id)
	ss.mu.Unlock()
	ss.notePut(id, url)
	return nil
}

// notePut records that scope id was put on the repo at url (for
// attribution; the soak puts its extra scopes itself and deletes them
// through its own cleanup).
func (ss *scopeSet) notePut(id, url string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.live == nil {
		ss.live, ss.byID, ss.byURL = map[string]string{}, map[string]string{}, map[string]string{}
	}
	ss.live[id], ss.byID[id], ss.byURL[url] = url, url, id
}

// Delete deletes scope id from the target and marks it deleted.
func (ss *scopeSet) Delete(ctx context.Context, id string) error {
	if err := ss.s.Client.DeleteScope(ctx, id); err != nil {
		return err
	}
	ss.deleted(id)
	return nil
}

// deleted marks scope id deleted (the caller deleted it on the target):
// what it held is held by a deleted scope from now on.
func (ss *scopeSet) deleted(ids ...string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for _, id := range ids {
		delete(ss.live, id)
	}
}

// deleteAll removes what this scenario put (for targets that outlive
// the scenario): extra's scopes first, then every scope Put.
func (ss *scopeSet) deleteAll(ctx context.Context) {
	s := ss.s
	if ss.extra != nil {
		ss.extra(ctx)
	}
	ss.mu.Lock()
	ids := ss.put
	ss.put = nil
	ss.live = nil
	ss.mu.Unlock()
	for i, id := range ids {
		err := s.Client.DeleteScope(ctx, id)
		if err == nil || target.IsStatus(err, http.StatusNotFound) {
			continue
		}
		s.Logf("cleanup: delete scope %s: %v", id, err)
		var se *target.StatusError
		if !errors.As(err, &se) {
			// No HTTP answer at all (deadline, reset): a target that does not
			// answer would cost a request deadline per scope.
			s.Logf("cleanup: target not answering: %d more scope deletes skipped", len(ids)-i-1)
			return
		}
	}
}

// Served polls the bundles of ids until each answers 200 with the wanted
// hash (any hash when want[id] is ""), recording when each was first
// served. It returns the time to each (missing: never) and the outcome.
func (ss *scopeSet) Served(ctx context.Context, ids []string, want map[string]string, timeout time.Duration) (map[string]time.Duration, eventually.Outcome) {
	return ss.ServedFrom(ctx, ids, want, timeout, time.Now(), 0)
}

// pollConcurrency bounds the policy requests a served-poll has in flight.
const pollConcurrency = 16

// readyTimeout is how long a setup step waits for its scopes.
const readyTimeout = 30 * time.Second

// Ready waits up to readyTimeout for a setup step's scopes to serve (want:
// their newest commits), asking the target again for every scope not
// served yet once no scope has come to serve for nudgeEvery: POST
// /scopes/{id}/refresh. While scopes keep coming (a large step on a busy
// target) nothing is asked again: at 200 scopes, asking for every scope
// still queued added ~250 refreshes to each churn phase and slowed it.
// A correct server need not retry a sync that failed on its own (the
// reference fetcher does not; OPAL with its polling off does not), and a
// clone that timed out once on a loaded machine must not end a gate whose
// subject is something else (seen: churn on a 2-core box beside a
// compiler, a 1 s clone timeout missed now and then). Never used where the check is how the target
// serves or retries by itself (boot, recovery, offline, the fetch counts).
func (ss *scopeSet) Ready(ctx context.Context, ids []string, want map[string]string) (map[string]time.Duration, eventually.Outcome) {
	return ss.ServedFrom(ctx, ids, want, readyTimeout, time.Now(), ss.nudgeEvery())
}

// nudgeEvery is the pause before a scope that is not served is asked for
// again: long enough for a slow operation to finish within the target's
// git timeout.
func (ss *scopeSet) nudgeEvery() time.Duration {
	return max(3*time.Second, 2*ss.s.Settings.GitTimeout)
}

// ServedFrom is Served with times measured from start (a process spawn,
// say). Errors, refused connections included, are "not yet"; a process
// target that exits on its own ends the wait.
// With nudge > 0, once no scope has come to serve for nudge (since the
// wait began or since the last scope served), every scope not served yet
// whose last refresh is nudge old is refreshed. At most pollConcurrency
// requests are in flight at once, whatever the scope count.
func (ss *scopeSet) ServedFrom(ctx context.Context, ids []string, want map[string]string, timeout time.Duration, start time.Time, nudge time.Duration) (map[string]time.Duration, eventually.Outcome) {
	s := ss.s
	at := map[string]time.Duration{}
	var mu sync.Mutex
	began := time.Now()
	progress, served := began, 0 // when a scope last came to serve, and how many had
	nudged := map[string]time.Time{}
	nudges := 0
	sem := make(chan struct{}, pollConcurrency)
	defer func() {
		if nudges > 0 {
			s.Logf("asked the target again %d times for scopes not served after %v (POST /scopes/{id}/refresh)", nudges, nudge)
			s.rec.Mark(result.MarkerPhase, fmt.Sprintf("%d scope refreshes re-requested by the harness", nudges))
		}
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	exitedWhy := ""
	out := eventually.Poll(ctx, timeout, 25*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		if er, ok := s.Target.(target.ExitReporter); ok {
			if why := er.Exited(); why != "" {
				exitedWhy = why
				cancel()
				return false, "target exited: " + firstLine(why), nil
			}
		}
		var wg sync.WaitGroup
		var lastErr error
		mu.Lock()
		if len(at) > served {
			progress, served = time.Now(), len(at)
		}
		stalled := nudge > 0 && time.Since(progress) >= nudge
		mu.Unlock()
		for _, id := range ids {
			mu.Lock()
			_, done := at[id]
			mu.Unlock()
			if done {
				continue
			}
			if stalled {
				last, ok := nudged[id]
				if !ok {
					last = began
				}
				if time.Since(last) >= nudge {
					nudged[id] = time.Now()
					nudges++
					if err := s.Client.Refresh(ctx, id); err != nil {
						s.Logf("re-request scope %s: %v", id, err)
					}
				}
			}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				b, err := s.Client.Policy(ctx, id)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					lastErr = err
					return
				}
				if w := want[id]; w != "" && b.Hash != w {
					lastErr = fmt.Errorf("scope %s serves %s, want %s", id, short(b.Hash), short(w))
					return
				}
				at[id] = time.Since(start)
				ss.noteServed(id, b)
			}()
		}
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		obs := fmt.Sprintf("%d/%d scopes served", len(at), len(ids))
		if lastErr != nil && len(at) < len(ids) {
			obs += fmt.Sprintf(" (e.g. %v)", lastErr)
		}
		return len(at) == len(ids), obs, nil
	})
	if exitedWhy != "" {
		out.Err = nil
		out.Observed = fmt.Sprintf("%d/%d scopes served when the target exited", len(at), len(ids))
	}
	mu.Lock()
	defer mu.Unlock()
	cp := make(map[string]time.Duration, len(at))
	for k, v := range at {
		cp[k] = v
	}
	return cp, out
}
