package gates

import (
	"context"
	"fmt"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/repogen"
	"github.com/gitchaos/gitchaos/harness/eventually"
	"github.com/gitchaos/gitchaos/harness/result"
)

// The recovery gate's checks.
var (
	recoveryNewestAfterBack = declare("recovery", "newest-after-back", "newest commit after the host comes back", "",
		"a host back from offline: one refresh brings every scope to the newest commit")
	recoveryOneRefresh = declare("recovery", "one-refresh", "one refresh recovers from a failed fetch", "",
		"a fetch that failed never counts as fresh: the same refresh still ends on the newest commit")
	recoveryForceNotSuppressed = declare("recovery", "force-fetch-not-suppressed", "force fetch requested during a fetch is not suppressed", "",
		"last-fetched is stamped with the fetch's start: a refresh asked for during a fetch fetches again")
	recoveryContent = declare("recovery", "content-matches", "served files match their revision after recovery", unitCount,
		"every bundle read after an outage, a failed fetch and a flapping host is the repo's files at the bundle's hash")
	recoveryNothingStuck = declare("recovery", "nothing-stuck", "nothing stuck after flapping", "",
		"no operation stays in flight after a host stops flapping").
		sometimes("only when operations are still in flight after the flapping: it fails")
	recoveryConsistent = declare("recovery", "consistent-after-flap", "consistent state after flapping", unitSeconds,
		"after a flapping host, every scope reaches its newest commit within the settle budget")
)

// RecoveryParams size the recovery and flapping gate.
type RecoveryParams struct {
	Scopes   int           `json:"scopes" yaml:"scopes"`       // scopes sharing each repo (pass two of sync re-checks them)
	Flap     time.Duration `json:"flap" yaml:"flap"`           // how long the host flaps
	FlapUp   time.Duration `json:"flap_up" yaml:"flap_up"`     // up phase of the flap schedule
	Settle   time.Duration `json:"settle" yaml:"settle"`       // after the flapping, every scope serves its newest commit within this (covers a breaker's backoff)
	FlapDown time.Duration `json:"flap_down" yaml:"flap_down"` // down phase
	Spec     repogen.Spec  `json:"spec" yaml:"spec"`
}

// GateName names the gate these params are for ("recovery").
func (RecoveryParams) GateName() string { return "recovery" }

// Validate reports what is wrong with the params: every error names the
// field as suite files spell it and its value.
func (p *RecoveryParams) Validate() error {
	c := paramCheck{gate: "recovery"}
	c.atLeast("scopes", p.Scopes, 1, "")
	c.nonNegative("flap", p.Flap)
	c.positive("flap_up", p.FlapUp)
	c.positive("flap_down", p.FlapDown)
	c.positive("settle", p.Settle)
	c.spec("spec", p.Spec)
	return c.err()
}

func (p *RecoveryParams) setScopes(n int) { p.Scopes = n }

// Recovery: a repo offline then back serves its newest commit after the
// next refresh; a refresh whose first fetch fails once (the host flaps)
// still ends on the newest commit (a failed fetch must not count as fresh:
// catches a suppressed force fetch); a host flapping for a while leaves no
// stuck lock or operation and a consistent final state.
var recoveryGate = &Gate{
	Name:  "recovery",
	Doc:   "recovery and flapping: newest commit after the next refresh; no stuck lock after flapping",
	Hosts: 2,
	Params: func() any {
		return &RecoveryParams{Scopes: 2, Flap: 2 * time.Second, FlapUp: 150 * time.Millisecond, FlapDown: 150 * time.Millisecond, Settle: 10 * time.Second, Spec: repogen.DefaultSpec()}
	},
	Run: runRecovery,
}

func runRecovery(ctx context.Context, s *S, pp any) error {
	p := pp.(*RecoveryParams)
	h, hf := s.scopes.Host(0), s.scopes.Host(1)
	repos, err := s.scopes.CreateRepos(ctx, h, 0, 1, p.Spec)
	if err != nil {
		return err
	}
	r := &repos[0]
	var ids, urls []string
	for i := range p.Scopes {
		ids, urls = append(ids, s.scopes.ID(i)), append(urls, r.URL())
	}
	s.scopes.watchContent()
	if err := s.scopes.Put(ctx, ids, urls); err != nil {
		return err
	}
	if _, out := s.scopes.Ready(ctx, ids, nil); !out.OK {
		return fmt.Errorf("recovery: scopes never served: %s", out.Describe())
	}
	// Step 1 waits out the host's breaker too (opened by the refused
	// fetches; it probes again after its 5 s backoff); steps 2 and 3 run on
	// a host that has just served, so one refresh is at most two git
	// operations (the fetch, pass two's re-fetch, or the held fetch and
	// the forced one after it) plus the polls.
	wait := 5*s.Settings.GitTimeout + 5*time.Second
	refreshWait := 2*s.Settings.GitTimeout + 2*time.Second

	// 1. Offline, a refresh fails, back online: the next refresh serves the newest commit.
	undo, err := s.faults.Inject(ctx, h, "", fault("offline"))
	if err != nil {
		return err
	}
	if err := s.scopes.Push(ctx, r); err != nil {
		return err
	}
	if err := s.Client.RefreshAll(ctx); err != nil {
		return fmt.Errorf("refresh all while offline: %w", err)
	}
	if err := s.settleInFlight(ctx, wait); err != nil {
		return err
	}
	if err := undo(ctx); err != nil {
		return err
	}
	want := map[string]string{}
	for _, id := range ids {
		want[id] = r.Head
	}
	if err := s.Client.RefreshAll(ctx); err != nil {
		return fmt.Errorf("refresh all after recovery: %w", err)
	}
	_, out := s.scopes.Served(ctx, ids, want, wait)
	s.rec.True(recoveryNewestAfterBack, out.OK, out.Describe(), "every scope on "+short(r.Head)+" after one refresh", "host offline, commit pushed, refresh failed, host back, one refresh")

	// 2. The first fetch of a refresh fails once: the same refresh still
	// ends on the newest commit (pass two re-fetches; a fetch that failed
	// never counts as fresh).
	// The 500 must meet the refresh's own fetch, and no earlier fetch may
	// bring the commit pushed for it: a server that fetches once per scope
	// sharing the source, or whose refresh is delivered late, is still
	// fetching after every scope serves. Wait until the repo has seen no
	// git request for a while before the push.
	if err := repoQuiet(ctx, r, repoQuietFor, wait); err != nil {
		return err
	}
	if err := s.scopes.Push(ctx, r); err != nil {
		return err
	}
	if _, err := s.faults.Inject(ctx, h, r.Name, fault("http500:count=1")); err != nil {
		return err
	}
	for _, id := range ids {
		want[id] = r.Head
	}
	if err := s.Client.RefreshAll(ctx); err != nil {
		return fmt.Errorf("refresh all with a failing fetch: %w", err)
	}
	_, out = s.scopes.Served(ctx, ids, want, refreshWait)
	s.rec.True(recoveryOneRefresh, out.OK, out.Describe(), "every scope on "+short(r.Head)+" after one refresh",
		fmt.Sprintf("the first git request of the refresh answered 500; %d scopes share the source", p.Scopes))

	// 3. A refresh requested while a fetch runs: that fetch read the refs
	// before the push the refresh announces, so once it ends the refresh
	// fetches again (the running fetch started before the request; a stamp
	// taken at its completion would wrongly count it as newer).
	if err := s.inflightForce(ctx, r, ids[0], refreshWait); err != nil {
		return err
	}

	// 4. A flapping host: refreshes keep coming; afterwards no stuck lock,
	// nothing in flight, and one refresh brings every scope to the newest commit.
	frepos, err := s.scopes.CreateRepos(ctx, hf, 1, 2, p.Spec)
	if err != nil {
		return err
	}
	fids := []string{s.scopes.ID(p.Scopes), s.scopes.ID(p.Scopes + 1)}
	if err := s.scopes.Put(ctx, fids, []string{frepos[0].URL(), frepos[1].URL()}); err != nil {
		return err
	}
	if _, out := s.scopes.Ready(ctx, fids, nil); !out.OK {
		return fmt.Errorf("recovery: flap scopes never served: %s", out.Describe())
	}
	undoFlap, err := s.faults.Inject(ctx, hf, "", fault(fmt.Sprintf("flap:up=%s,down=%s", p.FlapUp, p.FlapDown)))
	if err != nil {
		return err
	}
	end := time.Now().Add(p.Flap)
	for i := 0; time.Now().Before(end) && ctx.Err() == nil; i++ {
		if i%5 == 0 {
			if err := s.scopes.Push(ctx, &frepos[i/5%2]); err != nil {
				return err
			}
		}
		_ = s.Client.Refresh(ctx, fids[i%2])
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	if err := undoFlap(ctx); err != nil {
		return err
	}
	if err := s.settleInFlight(ctx, wait); err != nil {
		s.rec.True(recoveryNothingStuck, false, err.Error(), "in_flight == 0", "operations still in flight after the host stopped flapping")
	}
	fwant := map[string]string{fids[0]: frepos[0].Head, fids[1]: frepos[1].Head}
	// A per-host breaker opened by the flapping may fail refreshes fast
	// until its backoff passes: refresh every 500 ms until every scope
	// serves its newest commit, within the settle budget.
	settled := time.Now()
	refreshes := 0
	out = eventually.Poll(ctx, p.Settle, 500*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		refreshes++
		if err := s.Client.RefreshAll(ctx); err != nil {
			return false, "", fmt.Errorf("refresh all: %w", err)
		}
		_, o := s.scopes.Served(ctx, fids, fwant, 400*time.Millisecond)
		return o.OK, o.Observed, nil
	})
	if out.OK {
		s.rec.LE(recoveryConsistent, time.Since(settled).Seconds(), p.Settle.Seconds(),
			fmt.Sprintf("host flapped %v up / %v down for %v under refreshes and pushes; every scope served its newest commit after %d refresh-all calls", p.FlapUp, p.FlapDown, p.Flap, refreshes))
	} else {
		s.rec.True(recoveryConsistent, false, out.Describe(), "every scope on its newest commit within "+p.Settle.String(),
			fmt.Sprintf("host flapped %v up / %v down for %v under refreshes; %d refresh-all calls after it stopped", p.FlapUp, p.FlapDown, p.Flap, refreshes))
	}
	s.rec.Add(recoveryContent, s.scopes.contentCheck(ctx))
	return nil
}

// inflightForce holds a fetch of r inside upload-pack (its refs already
// read), pushes, refreshes scope id and releases the fetch: id must end on
// the pushed commit.
func (s *S) inflightForce(ctx context.Context, r *Repo, id string, wait time.Duration) error {
	if err := s.scopes.Push(ctx, r); err != nil { // gives the held fetch a pack to get
		return err
	}
	before, err := r.Host.Admin.Counters(ctx, r.Name)
	if err != nil {
		return fmt.Errorf("counters of %s: %w", r.Name, err)
	}
	clear, err := s.faults.Inject(ctx, r.Host, r.Name, fault("hang:op=git-upload-pack"))
	if err != nil {
		return err
	}
	defer func() { _ = clear(ctx) }()
	s.rec.Mark(result.MarkerPhase, "refresh during a fetch")
	if err := s.Client.Refresh(ctx, id); err != nil {
		return fmt.Errorf("refresh %s: %w", id, err)
	}
	held := eventually.Poll(ctx, s.Settings.GitTimeout/2, 5*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		c, err := r.Host.Admin.Counters(ctx, r.Name)
		if err != nil {
			return false, "", err
		}
		return c.InFlight > 0 && c.UploadPacks > before.UploadPacks, fmt.Sprintf("in flight %d, upload-packs %d (was %d)", c.InFlight, c.UploadPacks, before.UploadPacks), nil
	})
	if !held.OK {
		s.rec.Error(recoveryForceNotSuppressed, fmt.Errorf("the refresh's fetch never reached upload-pack: %s", held.Describe()))
		return nil
	}
	old := r.Head
	if err := s.scopes.Push(ctx, r); err != nil {
		return err
	}
	if err := s.Client.Refresh(ctx, id); err != nil {
		return fmt.Errorf("refresh %s during the fetch: %w", id, err)
	}
	if err := clear(ctx); err != nil {
		return err
	}
	_, out := s.scopes.Served(ctx, []string{id}, map[string]string{id: r.Head}, wait)
	s.rec.True(recoveryForceNotSuppressed, out.OK, out.Describe(), "scope on "+short(r.Head)+" (pushed while the first fetch ran)",
		fmt.Sprintf("a fetch held in upload-pack after reading the refs (%s), a commit pushed, a refresh requested, the fetch released", short(old)))
	return nil
}

// repoQuietFor is how long a repo must have seen no git request to count
// as quiet: several fetches' worth on loopback, where one takes 10-50 ms.
const repoQuietFor = time.Second

// repoQuiet waits up to wait until repo r has no git request in flight
// and none for quiet.
func repoQuiet(ctx context.Context, r *Repo, quiet, wait time.Duration) error {
	out := eventually.Poll(ctx, wait, 50*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		c, err := r.Host.Admin.Counters(ctx, r.Name)
		if err != nil {
			return false, "", fmt.Errorf("counters of %s: %w", r.Name, err)
		}
		idle := time.Since(c.LastRequestUTC)
		return c.InFlight == 0 && idle >= quiet, fmt.Sprintf("%d git requests in flight, the last %v ago", c.InFlight, idle.Round(time.Millisecond)), nil
	})
	if !out.OK {
		return fmt.Errorf("repo %s never quiet for %v: %s", r.Name, quiet, out.Describe())
	}
	return nil
}
