package scenarios

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/repogen"
	"github.com/gitchaos/gitchaos/harness/result"
)

// OfflineParams size the offline-isolation gate.
type OfflineParams struct {
	HungFactor  int           `json:"hung_factor" yaml:"hung_factor"`   // hung repos = factor × the target's workers
	ServeBudget time.Duration `json:"serve_budget" yaml:"serve_budget"` // a never-cloned healthy scope serves within this
	P99Budget   time.Duration `json:"p99_budget" yaml:"p99_budget"`     // API p99 latency during the hang
	Window      time.Duration `json:"window" yaml:"window"`             // how long the API is probed during the hang (0: 2.5 × git timeout)
	Spec        repogen.Spec  `json:"spec" yaml:"spec"`
}

// offlineScenario is the upstream gate made stricter: four times more hanging
// repos than the fetcher has workers, all on one dead host; a never-cloned
// scope on another host must serve within a budget that does not grow with
// the number of hung repos, and the API's p99 latency stays bounded.
var offlineScenario = register(&Scenario{
	Name:  "offline",
	Doc:   "offline isolation: 4× workers hung repos on a dead host don't delay a healthy host or the API",
	Hosts: 2,
	Params: func() any {
		return &OfflineParams{HungFactor: 4, ServeBudget: time.Second, P99Budget: 100 * time.Millisecond, Spec: repogen.DefaultSpec()}
	},
	Run: runOffline,
})

func runOffline(ctx context.Context, s *S, pp any) error {
	p := pp.(*OfflineParams)
	if p.HungFactor < 1 {
		return fmt.Errorf("offline: hung_factor %d: want >= 1", p.HungFactor)
	}
	dead, live := s.Host(0), s.Host(1)
	hung := p.HungFactor * s.Settings.MaxWorkers
	hungRepos, err := s.CreateRepos(ctx, dead, 0, hung, p.Spec)
	if err != nil {
		return err
	}
	liveRepos, err := s.CreateRepos(ctx, live, hung, 2, p.Spec)
	if err != nil {
		return err
	}
	warm, cold := s.ScopeID(0), s.ScopeID(1)
	if err := s.PutScopes(ctx, []string{warm}, []string{liveRepos[0].URL()}); err != nil {
		return err
	}
	if _, out := s.served(ctx, []string{warm}, nil, 30*time.Second); !out.OK {
		return fmt.Errorf("offline: warm-up scope never served: %s", out.describe())
	}

	if _, err := s.Inject(ctx, dead, fault("blackhole")); err != nil {
		return err
	}
	hangStart := time.Now()
	var ids, urls []string
	for i, r := range hungRepos {
		ids, urls = append(ids, s.ScopeID(2+i)), append(urls, r.URL())
	}
	if err := s.PutScopes(ctx, ids, urls); err != nil {
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
	var probeErrs int
	var lastErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		calls := []func(context.Context) error{
			func(ctx context.Context) error { _, err := s.C.Health(ctx); return err },
			func(ctx context.Context) error { _, err := s.C.Policy(ctx, warm); return err },
			func(ctx context.Context) error { _, err := s.C.Scopes(ctx); return err },
		}
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			rctx, cancel := context.WithTimeout(pctx, 10*time.Second)
			t0 := time.Now()
			err := calls[i%len(calls)](rctx)
			d := time.Since(t0)
			cancel()
			if pctx.Err() != nil {
				return
			}
			mu.Lock()
			lat = append(lat, d)
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

	if err := s.PutScopes(ctx, []string{cold}, []string{liveRepos[1].URL()}); err != nil {
		stop()
		wg.Wait()
		return err
	}
	at, out := s.served(ctx, []string{cold}, nil, max(10*p.ServeBudget, 4*time.Duration(p.HungFactor+1)*s.Settings.GitTimeout))
	explain := fmt.Sprintf("never-cloned scope on a healthy host, put while %d clones hang on a blackholed host (%d workers, git timeout %v)", hung, s.Settings.MaxWorkers, s.Settings.GitTimeout)
	if out.OK {
		s.CheckLE("healthy scope serves while a host hangs", at[cold].Seconds(), p.ServeBudget.Seconds(), unitSeconds, explain)
	} else {
		s.CheckTrue("healthy scope serves while a host hangs", false, out.describe(), "<= "+p.ServeBudget.String(), explain)
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
	pts := make([]result.Point, len(lat))
	for i, d := range lat {
		pts[i] = result.Point{X: float64(i), Y: d.Seconds()}
	}
	s.AddSeries(result.Series{Name: "API latency during the hang", Metric: "api_latency", Unit: "s", XUnit: "request", Points: pts})
	explain = fmt.Sprintf("%d API calls (healthcheck, warm scope's bundle, scope list) over %v of hang; max %v; %d errors", len(lat), window, percentile(lat, 100).Round(time.Millisecond), probeErrs)
	if lastErr != nil {
		explain += fmt.Sprintf(" (last: %v)", lastErr)
	}
	if len(lat) < 10 {
		s.CheckTrue("API p99 latency during the hang", false, fmt.Sprintf("%d calls", len(lat)), ">= 10 calls answered", "the API answered too few calls to judge: "+explain)
		return nil
	}
	s.CheckLE("API p99 latency during the hang", p99.Seconds(), p.P99Budget.Seconds(), unitSeconds, explain)
	s.CheckEQ("API errors during the hang", float64(probeErrs), 0, unitCount, explain)
	return nil
}
