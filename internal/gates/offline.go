package gates

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/repogen"
	"github.com/gitchaos/gitchaos/harness/eventually"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
)

// The offline gate's checks.
var (
	offlineHealthyServes = declare("offline", "healthy-serves", "healthy scope serves while a host hangs", unitSeconds,
		"a never-cloned scope on a healthy host is served while clones hang on a dead host (per-host bulkhead)")
	offlineAPIP99 = declare("offline", "api-p99", "API p99 latency during the hang", unitSeconds,
		"API calls stay fast while git work hangs (git work off the API's executor)")
	offlineAPIErrors = declare("offline", "api-errors", "API errors during the hang", unitCount,
		"API calls do not fail while git work hangs")
	offlineBundleWhileHung = declare("offline", "bundle-while-workers-hang", "bundle served while every git worker hangs", unitSeconds,
		"bundles are built off the git worker pool: a warm scope serves when every git worker hangs")
)

// OfflineParams size the offline-isolation gate.
type OfflineParams struct {
	HungFactor  int           `json:"hung_factor" yaml:"hung_factor"`   // hung repos = factor × the target's workers
	ServeBudget time.Duration `json:"serve_budget" yaml:"serve_budget"` // a never-cloned healthy scope serves within this
	P99Budget   time.Duration `json:"p99_budget" yaml:"p99_budget"`     // API p99 latency during the hang
	Window      time.Duration `json:"window" yaml:"window"`             // how long the API is probed during the hang (0: 2.5 × git timeout)
	FillHosts   int           `json:"fill_hosts" yaml:"fill_hosts"`     // dead hosts that together hang every git worker (phase 2)
	Spec        repogen.Spec  `json:"spec" yaml:"spec"`
}

// GateName names the gate these params are for ("offline").
func (OfflineParams) GateName() string { return "offline" }

// Validate reports what is wrong with the params: every error names the
// field as suite files spell it and its value.
func (p *OfflineParams) Validate() error {
	c := paramCheck{gate: "offline"}
	c.atLeast("hung_factor", p.HungFactor, 1, "")
	c.between("fill_hosts", p.FillHosts, 1, offlineGate.Hosts-2, fmt.Sprintf("the dead hosts beside the hung and the live host of %d", offlineGate.Hosts))
	c.positive("serve_budget", p.ServeBudget)
	c.positive("p99_budget", p.P99Budget)
	c.nonNegative("window", p.Window)
	c.spec("spec", p.Spec)
	return c.err()
}

// This scenario is the upstream gate made stricter: four times more hanging
// repos than the fetcher has workers, all on one dead host; a never-cloned
// scope on another host must serve within a budget that does not grow with
// the number of hung repos, and the API's p99 latency stays bounded. Then
// enough dead hosts hang every git worker (past any per-host cap): a warm
// scope's bundle is still served at once (bundles never wait for git work).
var offlineGate = &Gate{
	Name:  "offline",
	Doc:   "offline isolation: 4× workers hung repos on a dead host don't delay a healthy host or the API; bundles don't wait for hung git workers",
	Hosts: 6,
	Params: func() any {
		return &OfflineParams{HungFactor: 4, ServeBudget: time.Second, P99Budget: 100 * time.Millisecond, FillHosts: 4, Spec: repogen.DefaultSpec()}
	},
	Run: runOffline,
}

func runOffline(ctx context.Context, s *S, pp any) error {
	p := pp.(*OfflineParams)
	dead, live := s.scopes.Host(0), s.scopes.Host(1)
	hung := p.HungFactor * s.Settings.MaxWorkers
	hungRepos, err := s.scopes.CreateRepos(ctx, dead, 0, hung, p.Spec)
	if err != nil {
		return err
	}
	liveRepos, err := s.scopes.CreateRepos(ctx, live, hung, 2, p.Spec)
	if err != nil {
		return err
	}
	warm, cold := s.scopes.ID(0), s.scopes.ID(1)
	if err := s.scopes.Put(ctx, []string{warm}, []string{liveRepos[0].URL()}); err != nil {
		return err
	}
	if _, out := s.scopes.Ready(ctx, []string{warm}, nil); !out.OK {
		return fmt.Errorf("offline: warm-up scope never served: %s", out.Describe())
	}

	if _, err := s.faults.Inject(ctx, dead, "", fault("blackhole")); err != nil {
		return err
	}
	hangStart := time.Now()
	var ids, urls []string
	for i, r := range hungRepos {
		ids, urls = append(ids, s.scopes.ID(2+i)), append(urls, r.URL())
	}
	if err := s.scopes.Put(ctx, ids, urls); err != nil {
		return err
	}

	// Probe the API while the repos hang.
	window := p.Window
	if window <= 0 {
		window = s.Settings.GitTimeout * 5 / 2
	}
	pctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var lat []time.Duration
	var latAt []result.Seconds // each call's start, since the scenario's start
	var probeErrs int
	var lastErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		calls := []func(context.Context) error{
			func(ctx context.Context) error { _, err := s.Client.Health(ctx); return err },
			func(ctx context.Context) error { _, err := s.Client.Policy(ctx, warm); return err },
			func(ctx context.Context) error { _, err := s.Client.Scopes(ctx); return err },
		}
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			rctx, cancel := context.WithTimeout(pctx, 10*time.Second)
			at := s.since()
			t0 := time.Now()
			err := calls[i%len(calls)](rctx)
			d := time.Since(t0)
			cancel()
			if pctx.Err() != nil {
				return
			}
			mu.Lock()
			lat = append(lat, d)
			latAt = append(latAt, at)
			if err != nil {
				probeErrs++
				lastErr = err
			}
			mu.Unlock()
			select {
			case <-pctx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	if err := s.scopes.Put(ctx, []string{cold}, []string{liveRepos[1].URL()}); err != nil {
		stop()
		wg.Wait()
		return err
	}
	// A FIFO pool that honours its timeout reaches the healthy scope after
	// the hung clones' rounds, about (hung_factor+1) × timeout: wait twice
	// that, so such a pool's late serve is measured rather than "never".
	at, out := s.scopes.Served(ctx, []string{cold}, nil, max(10*p.ServeBudget, 2*time.Duration(p.HungFactor+1)*s.Settings.GitTimeout))
	explain := fmt.Sprintf("never-cloned scope on a healthy host, put while %d clones hang on a blackholed host (%d workers, git timeout %v)", hung, s.Settings.MaxWorkers, s.Settings.GitTimeout)
	if out.OK {
		s.rec.LE(offlineHealthyServes, at[cold].Seconds(), p.ServeBudget.Seconds(), explain)
	} else {
		s.rec.True(offlineHealthyServes, false, out.Describe(), "<= "+p.ServeBudget.String(), explain)
	}
	// Keep probing until the window since the hang started is over.
	t := time.NewTimer(max(0, time.Until(hangStart.Add(window))))
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	t.Stop()
	stop()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	p99 := percentile(lat, 99)
	// Over time (each call's start), so the chart lines up with the fault
	// window it was probed under.
	pts := make([]result.Point, len(lat))
	for i, d := range lat {
		pts[i] = result.Point{X: float64(latAt[i]), Y: d.Seconds()}
	}
	s.rec.Series(result.Series{Name: "API latency during the hang", Metric: "api_latency", Unit: "s", XUnit: "s", Points: pts})
	explain = fmt.Sprintf("%d API calls (healthcheck, warm scope's bundle, scope list) over %v of hang; max %v; %d errors", len(lat), window, percentile(lat, 100).Round(time.Millisecond), probeErrs)
	if lastErr != nil {
		explain += fmt.Sprintf(" (last: %v)", lastErr)
	}
	if len(lat) < 10 {
		s.rec.True(offlineAPIP99, false, fmt.Sprintf("%d calls", len(lat)), ">= 10 calls answered", "the API answered too few calls to judge: "+explain)
	} else {
		s.rec.LE(offlineAPIP99, p99.Seconds(), p.P99Budget.Seconds(), explain)
		s.rec.EQ(offlineAPIErrors, float64(probeErrs), 0, explain)
	}
	return s.fillGitWorkers(ctx, p, warm)
}

// fillGitWorkers is phase 2: clones hang on FillHosts dead hosts, as many
// per host as the fetcher has workers, so every git worker hangs whatever
// the per-host cap; the warm scope's bundle must still be served within
// the latency budget (an executor shared with git work makes it wait).
func (s *S) fillGitWorkers(ctx context.Context, p *OfflineParams, warm string) error {
	hosts := s.Testbed.Hosts()[2 : 2+p.FillHosts]
	s.rec.Mark(result.MarkerPhase, "every git worker hung")
	var ids, urls []string
	for i, h := range hosts {
		if _, err := s.faults.Inject(ctx, h, "", fault("blackhole")); err != nil {
			return err
		}
		for k := range s.Settings.MaxWorkers {
			n := 1000 + i*s.Settings.MaxWorkers + k
			ids, urls = append(ids, s.scopes.ID(n)), append(urls, h.RepoURL(s.scopes.RepoName(n))) // never answered: the repo need not exist
		}
	}
	if err := s.scopes.Put(ctx, ids, urls); err != nil {
		return err
	}
	known := true
	busy := eventually.Poll(ctx, s.Settings.GitTimeout, 5*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		st, ok, err := s.Stats(ctx)
		v, has := st[target.StatInFlight]
		if err != nil || !ok || !has {
			known = false
			return true, "", err
		}
		return v >= float64(s.Settings.MaxWorkers), fmt.Sprintf("in_flight=%g", v), nil
	})
	switch {
	case !known:
		s.rec.Skip(offlineBundleWhileHung, "the target's stats have no in_flight key: cannot tell that every git worker hangs")
		return nil
	case !busy.OK:
		s.rec.Skip(offlineBundleWhileHung, fmt.Sprintf("never saw all %d git workers busy with %d clones hung on %d dead hosts (%s): a per-host cap above %d needs more fill_hosts",
			s.Settings.MaxWorkers, len(ids), len(hosts), busy.Describe(), s.Settings.MaxWorkers/len(hosts)))
		return nil
	}
	// Probe the bundle while the workers hang (the hung clones end at the
	// git timeout, counted from when they started).
	var lat []time.Duration
	var errs []string
	end := time.Now().Add(s.Settings.GitTimeout / 2)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for len(lat) < 5 || time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		t0 := time.Now()
		_, err := s.Client.Policy(rctx, warm)
		lat = append(lat, time.Since(t0))
		cancel()
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	worst := percentile(lat, 100)
	explain := fmt.Sprintf("%d bundle requests of a warm scope while %d clones hang on %d blackholed hosts (%s, %d workers, git timeout %v); slowest %v",
		len(lat), len(ids), len(hosts), busy.Observed, s.Settings.MaxWorkers, s.Settings.GitTimeout, worst.Round(time.Millisecond))
	if len(errs) > 0 {
		explain += fmt.Sprintf("; %d errors (first: %s)", len(errs), errs[0])
		worst = max(worst, s.Settings.GitTimeout)
	}
	s.rec.LE(offlineBundleWhileHung, worst.Seconds(), p.P99Budget.Seconds(), explain)
	return nil
}
