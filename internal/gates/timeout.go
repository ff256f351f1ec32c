package gates

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/repogen"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/testbed"
)

// The timeout gate's checks (timeoutBaseline, per metric, is in
// timeout_checks.go).
var (
	timeoutHealthyBeside = declare("timeout", "healthy-beside-hung", "healthy scope served beside hung operations", "",
		"hung clones and fetches do not starve a healthy scope's sync")
	timeoutHungEnd = declare("timeout", "hung-ops-end", "hung operations end within timeout×1.1+100ms", unitSeconds,
		"every clone and fetch really ends at the git timeout (a deadline, not a soft wait)")
	timeoutNoOverlap = declare("timeout", "no-overlap", "no two operations on one repo overlap", unitCount,
		"a source with an operation still running is never touched by a second one (in-flight guard)")
	timeoutNoInflight = declare("timeout", "no-inflight", "no git operation in flight after timeout + grace", "",
		"timed-out operations are gone, not left running in the background")
	timeoutNoChild = declare("timeout", "no-child-outlives", "no child process outlives its operation", unitCount,
		"a timed-out git command takes its children (remote helpers) with it, and finished children are reaped")
	timeoutPartialRemoved = declare("timeout", "partial-removed", "partial clone data removed", unitBytes,
		"a clone that timed out mid-transfer leaves no partial data on disk")
)

// TimeoutParams size the timeout-precision gate.
type TimeoutParams struct {
	Clones  int           `json:"clones" yaml:"clones"`   // clones that hang inside the git server
	Fetches int           `json:"fetches" yaml:"fetches"` // fetches that hang inside the git server
	Grace   time.Duration `json:"grace" yaml:"grace"`     // after timeout + grace nothing may linger
	Stall   repogen.Spec  `json:"stall" yaml:"stall"`     // repo cloned through a stall (partial data on disk)
	Spec    repogen.Spec  `json:"spec" yaml:"spec"`
}

// GateName names the gate these params are for ("timeout").
func (TimeoutParams) GateName() string { return "timeout" }

// Validate reports what is wrong with the params: every error names the
// field as suite files spell it and its value.
func (p *TimeoutParams) Validate() error {
	c := paramCheck{gate: "timeout"}
	c.atLeast("clones", p.Clones, 0, "")
	c.atLeast("fetches", p.Fetches, 0, "")
	if p.Clones == 0 && p.Fetches == 0 {
		c.fail("clones", p.Clones, ">= 1 when fetches is 0 (the gate times hung clones and fetches)")
	}
	c.nonNegative("grace", p.Grace)
	c.spec("stall", p.Stall)
	c.spec("spec", p.Spec)
	return c.err()
}

// This scenario checks that every hung clone and fetch ends within
// timeout × 1.1 + 100 ms (measured by the git server, which sees each
// request end), that nothing lingers after timeout + grace (operations in
// flight, goroutines, partial clone data on disk), and that no two
// operations on one repo ever overlap. Beside the hung clones, a clone
// and a fetch whose pack trickles just above common low-speed limits must
// end within the same limit (timeout_drip.go).
var timeoutGate = &Gate{
	Name:  "timeout",
	Doc:   "timeout precision: hung clones/fetches end within timeout×1.1+100ms; nothing lingers; no overlap",
	Hosts: 4, // the fourth: the slow drip (timeout_drip.go)
	Params: func() any {
		// One fetch: its host's bulkhead (at least 2 slots) keeps a slot free
		// for the next cycle's fetch, so a fetch left running past the
		// timeout can be seen beside it.
		return &TimeoutParams{Clones: 4, Fetches: 1, Grace: time.Second, Spec: repogen.DefaultSpec(),
			Stall: repogen.Spec{RegoFiles: 4, DataBytes: 256, Commits: 1, PackBytes: 2 << 20}}
	},
	Run: runTimeout,
}

// watchWindow is how long an operation hung inside the git server is
// watched for its end, timeout T: T past the limit (T×1.1+100ms) and
// more, so an operation that overshoots is measured and one that never
// ends is told apart, without waiting on it longer than that (a target
// with no timeout costs the window twice, once per hung phase).
func watchWindow(T time.Duration) time.Duration { return 2*T + time.Second }

func runTimeout(ctx context.Context, s *S, pp any) error {
	p := pp.(*TimeoutParams)
	T := s.Settings.GitTimeout
	limit := time.Duration(float64(T)*1.1) + 100*time.Millisecond
	hClone, hFetch, hStall := s.scopes.Host(0), s.scopes.Host(1), s.scopes.Host(2)

	// The slow drip (timeout_drip.go): its fetch's scope is cloned before
	// the baseline.
	drip, err := s.prepareDrip(ctx, s.scopes.Host(3), p.Clones+p.Fetches+1, p.Clones+p.Fetches+1, T)
	if err != nil {
		return err
	}
	base, err := s.baseline(ctx)
	if err != nil {
		return err
	}

	// Phase 1: clones that hang inside the server.
	cloneRepos, err := s.scopes.CreateRepos(ctx, hClone, 0, p.Clones, p.Spec)
	if err != nil {
		return err
	}
	for _, r := range cloneRepos {
		if _, err := s.faults.Inject(ctx, hClone, r.Name, fault("hang")); err != nil {
			return err
		}
	}
	var ids, urls []string
	for i, r := range cloneRepos {
		ids, urls = append(ids, s.scopes.ID(i)), append(urls, r.URL())
	}
	s.rec.Mark(result.MarkerPhase, "hung clones")
	if err := s.scopes.Put(ctx, ids, urls); err != nil {
		return err
	}
	// Ask again while they hang: a correct fetcher skips (single flight).
	for _, id := range ids {
		_ = s.Client.Refresh(ctx, id)
	}
	cloneDurs, cloneOpen := s.watchOps(ctx, hClone, repoNames(cloneRepos), watchWindow(T))

	// The slow drip runs beside the healthy scope and the hung fetches,
	// once the hung clones ended (not during their timeout: a target
	// whose re-asked clones find no free worker then would hang fewer).
	if err := drip.start(ctx, s); err != nil {
		return err
	}
	defer drip.wait()

	// Phase 2: fetches that hang inside the server.
	fetchRepos, err := s.scopes.CreateRepos(ctx, hFetch, p.Clones, p.Fetches, p.Spec)
	if err != nil {
		return err
	}
	ids, urls = nil, nil
	for i, r := range fetchRepos {
		ids, urls = append(ids, s.scopes.ID(p.Clones+i)), append(urls, r.URL())
	}
	if err := s.scopes.Put(ctx, ids, urls); err != nil {
		return err
	}
	// A healthy scope put beside the hung clones must serve: a target whose
	// hung operations keep its git workers past their timeout starves it
	// (the fetch phase is then left out, judged by the clone phase alone).
	// Every hung clone is past its timeout by now, so a correct target's
	// workers are free: one clone's time, with room for a loaded machine.
	serveWait := max(10*time.Second, 3*T)
	_, fout := s.scopes.Served(ctx, ids, nil, serveWait)
	s.rec.True(timeoutHealthyBeside, fout.OK, fout.Describe(), "within "+serveWait.String(),
		fmt.Sprintf("%d scope(s) on another host put after %d clones hung past their %v timeout (each asked again during its hang)", len(ids), p.Clones, T))
	var fetchDurs []time.Duration
	var fetchOpen []string
	if fout.OK {
		if fetchDurs, fetchOpen, err = s.hungFetches(ctx, hFetch, fetchRepos, ids, T); err != nil {
			return err
		}
	}

	// Phase 3: a clone that stalls mid-transfer leaves no partial data
	// (disk use measured before it, once the drip is judged: what a
	// timed-out drip left is not the stalled clone's).
	drip.wait()
	diskBase, diskKnown := s.DirBytes()
	stallRepo, err := s.scopes.CreateRepos(ctx, hStall, p.Clones+p.Fetches, 1, p.Stall)
	if err != nil {
		return err
	}
	if _, err := s.faults.Inject(ctx, hStall, "", fault("stall:after=65536")); err != nil {
		return err
	}
	s.rec.Mark(result.MarkerPhase, "stalled clone")
	stallStart := time.Now()
	if err := s.scopes.Put(ctx, []string{s.scopes.ID(p.Clones + p.Fetches)}, []string{stallRepo[0].URL()}); err != nil {
		return err
	}

	// Every operation that reached the server ended within the limit.
	all := append(append([]time.Duration{}, cloneDurs...), fetchDurs...)
	open := append(cloneOpen, fetchOpen...)
	var overs []float64
	for _, d := range all {
		overs = append(overs, (d - T).Seconds())
	}
	sort.Float64s(overs)
	pts := make([]result.Point, len(overs))
	for i, o := range overs {
		pts[i] = result.Point{X: float64(i), Y: o}
	}
	s.rec.Series(result.Series{Name: "timeout overshoot", Metric: "timeout_overshoot", Unit: "s", XUnit: "operation", Points: pts})
	if len(all) == 0 && len(open) == 0 {
		s.rec.True(timeoutHungEnd, false, "0 operations", ">= 1 operation seen", "no hung clone or fetch reached the git server")
	} else {
		worst := 0.0
		if len(all) > 0 {
			worst = sortedMax(all).Seconds()
		}
		explain := fmt.Sprintf("%d clones and fetches hung inside the git server; timeout %v; overshoot median %s, max %s", len(all), T, fmtOver(overs, 50), fmtOver(overs, 100))
		if len(open) > 0 {
			worst = watchWindow(T).Seconds()
			explain = fmt.Sprintf("%d operations never ended (%s); ", len(open), strings.Join(open, ", ")) + explain
		}
		s.rec.LE(timeoutHungEnd, worst, limit.Seconds(), explain)
	}

	// Nothing lingers after timeout + grace.
	wait := time.Until(stallStart.Add(T + p.Grace))
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	s.lingerChecks(ctx, base, diskBase, diskKnown, p.Grace)

	// No two operations on one repo overlapped.
	worst, where := 0.0, ""
	for _, h := range []*testbed.Host{hClone, hFetch, hStall} {
		cs, err := h.Admin.AllCounters(ctx)
		if err != nil {
			return fmt.Errorf("counters of %s: %w", h.Name, err)
		}
		for name, c := range cs {
			if float64(c.MaxInFlight) > worst {
				worst, where = float64(c.MaxInFlight), h.Name+"/"+name
			}
		}
	}
	s.rec.LE(timeoutNoOverlap, worst, 1, fmt.Sprintf("highest concurrent git requests on one repo: %g (%s), while each was asked again during its hang", worst, orDefault(where, "none")))
	return nil
}

// hungFetches pushes to fetchRepos, hangs their fetches inside the git
// server, refreshes their scopes (twice: the second is skipped by single
// flight) and watches the fetches end.
func (s *S) hungFetches(ctx context.Context, hFetch *testbed.Host, fetchRepos []Repo, ids []string, T time.Duration) ([]time.Duration, []string, error) {
	if err := hFetch.Admin.ResetCounters(ctx); err != nil {
		return nil, nil, fmt.Errorf("reset counters: %w", err)
	}
	for i := range fetchRepos {
		if err := s.scopes.Push(ctx, &fetchRepos[i]); err != nil {
			return nil, nil, err
		}
		if _, err := s.faults.Inject(ctx, hFetch, fetchRepos[i].Name, fault("hang")); err != nil {
			return nil, nil, err
		}
	}
	s.rec.Mark(result.MarkerPhase, "hung fetches")
	for _, id := range ids {
		if err := s.Client.Refresh(ctx, id); err != nil {
			return nil, nil, fmt.Errorf("refresh %s: %w", id, err)
		}
	}
	for _, id := range ids {
		_ = s.Client.Refresh(ctx, id)
	}
	durs, open := s.watchOps(ctx, hFetch, repoNames(fetchRepos), watchWindow(T))
	// The next cycle, once the timed-out fetches were given up: a fetcher
	// that ended them at their deadline starts one fetch each; one that only
	// stopped waiting (and let go of the source) starts a second beside the
	// one still running.
	for _, id := range ids {
		_ = s.Client.Refresh(ctx, id)
	}
	return durs, open, nil
}
