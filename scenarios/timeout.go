package scenarios

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/fixtures/repogen"
	"github.com/gitchaos/gitchaos/harness/eventually"
	"github.com/gitchaos/gitchaos/harness/probe"
	"github.com/gitchaos/gitchaos/harness/proctree"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
	"github.com/gitchaos/gitchaos/harness/testbed"
)

// TimeoutParams size the timeout-precision gate.
type TimeoutParams struct {
	Clones  int           `json:"clones" yaml:"clones"`   // clones that hang inside the git server
	Fetches int           `json:"fetches" yaml:"fetches"` // fetches that hang inside the git server
	Grace   time.Duration `json:"grace" yaml:"grace"`     // after timeout + grace nothing may linger
	Stall   repogen.Spec  `json:"stall" yaml:"stall"`     // repo cloned through a stall (partial data on disk)
	Spec    repogen.Spec  `json:"spec" yaml:"spec"`
}

// This scenario checks that every hung clone and fetch ends within
// timeout × 1.1 + 100 ms (measured by the git server, which sees each
// request end), that nothing lingers after timeout + grace (operations in
// flight, goroutines, partial clone data on disk), and that no two
// operations on one repo ever overlap.
var _ = register(&Scenario{
	Name:  "timeout",
	Doc:   "timeout precision: hung clones/fetches end within timeout×1.1+100ms; nothing lingers; no overlap",
	Hosts: 3,
	Params: func() any {
		// One fetch: its host's bulkhead (at least 2 slots) keeps a slot free
		// for the next cycle's fetch, so a fetch left running past the
		// timeout can be seen beside it.
		return &TimeoutParams{Clones: 4, Fetches: 1, Grace: time.Second, Spec: repogen.DefaultSpec(),
			Stall: repogen.Spec{RegoFiles: 4, DataBytes: 256, Commits: 1, PackBytes: 2 << 20}}
	},
	Run: runTimeout,
})

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
	hClone, hFetch, hStall := s.Host(0), s.Host(1), s.Host(2)

	base, err := s.baseline(ctx)
	if err != nil {
		return err
	}

	// Phase 1: clones that hang inside the server.
	cloneRepos, err := s.CreateRepos(ctx, hClone, 0, p.Clones, p.Spec)
	if err != nil {
		return err
	}
	for _, r := range cloneRepos {
		if _, err := s.RepoFault(ctx, hClone, r.Name, gitserver.Fault{Mode: gitserver.FaultHang}); err != nil {
			return err
		}
	}
	var ids, urls []string
	for i, r := range cloneRepos {
		ids, urls = append(ids, s.ScopeID(i)), append(urls, r.URL())
	}
	s.Mark(result.MarkerPhase, "hung clones")
	if err := s.PutScopes(ctx, ids, urls); err != nil {
		return err
	}
	// Ask again while they hang: a correct fetcher skips (single flight).
	for _, id := range ids {
		_ = s.C.Refresh(ctx, id)
	}
	cloneDurs, cloneOpen := s.watchOps(ctx, hClone, repoNames(cloneRepos), watchWindow(T))

	// Phase 2: fetches that hang inside the server.
	fetchRepos, err := s.CreateRepos(ctx, hFetch, p.Clones, p.Fetches, p.Spec)
	if err != nil {
		return err
	}
	ids, urls = nil, nil
	for i, r := range fetchRepos {
		ids, urls = append(ids, s.ScopeID(p.Clones+i)), append(urls, r.URL())
	}
	if err := s.PutScopes(ctx, ids, urls); err != nil {
		return err
	}
	// A healthy scope put beside the hung clones must serve: a target whose
	// hung operations keep its git workers past their timeout starves it
	// (the fetch phase is then left out, judged by the clone phase alone).
	// Every hung clone is past its timeout by now, so a correct target's
	// workers are free: one clone's time, with room for a loaded machine.
	serveWait := max(10*time.Second, 3*T)
	_, fout := s.served(ctx, ids, nil, serveWait)
	s.CheckTrue("healthy scope served beside hung operations", fout.OK, fout.Describe(), "within "+serveWait.String(),
		fmt.Sprintf("%d scope(s) on another host put after %d clones hung past their %v timeout (each asked again during its hang)", len(ids), p.Clones, T))
	diskBase, diskKnown := s.DirBytes()
	var fetchDurs []time.Duration
	var fetchOpen []string
	if fout.OK {
		if fetchDurs, fetchOpen, err = s.hungFetches(ctx, hFetch, fetchRepos, ids, T); err != nil {
			return err
		}
	}

	// Phase 3: a clone that stalls mid-transfer leaves no partial data.
	stallRepo, err := s.CreateRepos(ctx, hStall, p.Clones+p.Fetches, 1, p.Stall)
	if err != nil {
		return err
	}
	if _, err := s.Inject(ctx, hStall, fault("stall:after=65536")); err != nil {
		return err
	}
	s.Mark(result.MarkerPhase, "stalled clone")
	stallStart := time.Now()
	if err := s.PutScopes(ctx, []string{s.ScopeID(p.Clones + p.Fetches)}, []string{stallRepo[0].URL()}); err != nil {
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
	s.AddSeries(result.Series{Name: "timeout overshoot", Metric: "timeout_overshoot", Unit: "s", XUnit: "operation", Points: pts})
	if len(all) == 0 && len(open) == 0 {
		s.CheckTrue("hung operations end within timeout×1.1+100ms", false, "0 operations", ">= 1 operation seen", "no hung clone or fetch reached the git server")
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
		s.CheckLE("hung operations end within timeout×1.1+100ms", worst, limit.Seconds(), unitSeconds, explain)
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
	s.CheckLE("no two operations on one repo overlap", worst, 1, unitCount, fmt.Sprintf("highest concurrent git requests on one repo: %g (%s), while each was asked again during its hang", worst, orDefault(where, "none")))
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
		if err := s.Push(ctx, &fetchRepos[i]); err != nil {
			return nil, nil, err
		}
		if _, err := s.RepoFault(ctx, hFetch, fetchRepos[i].Name, gitserver.Fault{Mode: gitserver.FaultHang}); err != nil {
			return nil, nil, err
		}
	}
	s.Mark(result.MarkerPhase, "hung fetches")
	for _, id := range ids {
		if err := s.C.Refresh(ctx, id); err != nil {
			return nil, nil, fmt.Errorf("refresh %s: %w", id, err)
		}
	}
	for _, id := range ids {
		_ = s.C.Refresh(ctx, id)
	}
	durs, open := s.watchOps(ctx, hFetch, repoNames(fetchRepos), watchWindow(T))
	// The next cycle, once the timed-out fetches were given up: a fetcher
	// that ended them at their deadline starts one fetch each; one that only
	// stopped waiting (and let go of the source) starts a second beside the
	// one still running.
	for _, id := range ids {
		_ = s.C.Refresh(ctx, id)
	}
	return durs, open, nil
}

func repoNames(rs []Repo) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Name
	}
	return out
}

func sortedMax(ds []time.Duration) time.Duration {
	m := ds[0]
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

func fmtOver(sorted []float64, p float64) string {
	if len(sorted) == 0 {
		return "n/a"
	}
	k := int(float64(len(sorted))*p/100+0.5) - 1
	k = max(0, min(k, len(sorted)-1))
	return fmt.Sprintf("%+.0f ms", sorted[k]*1000)
}

// watchOps polls a host's counters every 5 ms and times each git request
// on the named repos from the moment the server counts it in flight until
// it is no longer in flight; it returns the durations and the repos still
// in flight when the deadline passed.
func (s *S) watchOps(ctx context.Context, h *testbed.Host, names []string, deadline time.Duration) ([]time.Duration, []string) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	started := map[string]time.Time{}
	seen := map[string]int64{}
	var durs []time.Duration
	end := time.Now().Add(deadline)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	idle := 0
	for time.Now().Before(end) && ctx.Err() == nil {
		cs, err := h.Admin.AllCounters(ctx)
		now := time.Now()
		if err == nil {
			active := 0
			for name, c := range cs {
				if !want[name] {
					continue
				}
				total := c.InfoRefs + c.UploadPacks
				if c.InFlight > 0 {
					active++
					if _, ok := started[name]; !ok {
						started[name] = now
					}
				} else if t0, ok := started[name]; ok {
					durs = append(durs, now.Sub(t0))
					delete(started, name)
				}
				seen[name] = total
			}
			// Done once something ran and nothing has been in flight for 250 ms.
			if active == 0 && (len(durs) > 0) {
				idle++
				if idle >= 50 {
					break
				}
			} else {
				idle = 0
			}
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	var open []string
	for n := range started {
		open = append(open, h.Name+"/"+n)
	}
	sort.Strings(open)
	return durs, open
}

// baselineValues are measured before any fault.
type baselineValues struct {
	sample probe.Sample
	// stacks of the target's goroutines at the baseline (targets that can
	// list them): a failing check shows what was started since.
	stacks map[string]int
	// procs are the target's processes but its root before the hangs
	// (procsWhy says why they are unknown).
	procs    map[int]proctree.Proc
	procsWhy string
}

func (s *S) baseline(ctx context.Context) (baselineValues, error) {
	smp, err := s.settledSample(ctx)
	if err != nil {
		return baselineValues{}, err
	}
	b := baselineValues{sample: smp}
	if d, ok := s.T.(target.StackDumper); ok {
		if b.stacks, err = d.GoroutineStacks(); err != nil {
			s.Logf("goroutine stacks at the baseline: %v", err)
		}
	}
	b.procs, b.procsWhy = s.processes()
	return b, nil
}

// processes lists the target's processes but its root by pid (nil and the
// reason when the target cannot list them).
func (s *S) processes() (map[int]proctree.Proc, string) {
	pl, ok := s.T.(target.ProcessLister)
	if !ok {
		return nil, s.T.Describe() + " cannot list its processes"
	}
	ps, err := pl.Processes()
	if err != nil {
		return nil, err.Error()
	}
	out := make(map[int]proctree.Proc, len(ps))
	for _, p := range ps {
		out[p.PID] = p
	}
	return out, ""
}

// childCheck: after timeout + grace, no process of the target's tree
// that was not there before the hangs remains (git children, remote
// helpers, zombies nobody reaped), polled for grace.
func (s *S) childCheck(ctx context.Context, base baselineValues, grace time.Duration) {
	const name = "no child process outlives its operation"
	if base.procs == nil {
		s.Skip(name, "the target's processes are unknown: "+base.procsWhy)
		return
	}
	var left []string
	var why string
	out := eventually.Poll(ctx, grace, 20*time.Millisecond, func(context.Context) (bool, string, error) {
		now, w := s.processes()
		if now == nil {
			why = w
			return false, w, nil
		}
		left = left[:0]
		for pid, p := range now {
			if _, had := base.procs[pid]; !had {
				left = append(left, p.String())
			}
		}
		sort.Strings(left)
		return len(left) == 0, fmt.Sprintf("%d new processes", len(left)), nil
	})
	if why != "" && !out.OK {
		s.AddCheck(result.Check{Name: name, Verdict: result.Error, Explanation: "listing the target's processes: " + why})
		return
	}
	scope := s.T.(target.ProcessLister).ProcessScope()
	explain := fmt.Sprintf("processes of the target (%s) that were not there before the hangs, polled for %v after timeout + grace; %d there before", scope, grace, len(base.procs))
	if len(left) > 0 {
		explain = fmt.Sprintf("still there %v after timeout + grace: %s; ", grace, joinIDs(left)) + explain
	}
	s.CheckEQ(name, float64(len(left)), 0, unitCount, explain)
}

// leakedStacks renders the target's goroutines that are more now than at
// the baseline, grouped by stack ("" when the target cannot list them).
func (s *S) leakedStacks(base baselineValues) string {
	d, ok := s.T.(target.StackDumper)
	if !ok || base.stacks == nil {
		return ""
	}
	now, err := d.GoroutineStacks()
	if err != nil {
		return fmt.Sprintf("\n(goroutine stacks: %v)", err)
	}
	if diff := target.StackDiff(base.stacks, now, 5); diff != "" {
		return "\n" + diff
	}
	return ""
}

// lingerChecks: operations in flight back to 0, goroutines (or threads,
// where goroutines are unknown) back to the baseline, disk use back to
// diskBase.
func (s *S) lingerChecks(ctx context.Context, base baselineValues, diskBase float64, diskKnown bool, grace time.Duration) {
	out, inflightKnown := s.statsZero(ctx, grace, target.StatInFlight)
	if inflightKnown {
		s.CheckTrue("no git operation in flight after timeout + grace", out.OK, out.Describe(), "in_flight == 0", fmt.Sprintf("read from the stats endpoint for %v after timeout + grace", grace))
	} else {
		s.Skip("no git operation in flight after timeout + grace", "the target's stats have no in_flight key")
	}
	smp, err := s.settledSample(ctx)
	if err != nil {
		s.AddCheck(result.Check{Name: "goroutines back to baseline", Verdict: result.Error, Explanation: err.Error()})
		return
	}
	metric := probe.Goroutines
	if _, ok := smp.Get(metric); !ok {
		metric = probe.Threads
	}
	b, okb := base.sample.Get(metric)
	v, okv := smp.Get(metric)
	if okb && okv {
		slack := 2.0
		if metric == probe.Threads {
			slack = float64(s.Settings.MaxWorkers)
		}
		explain := fmt.Sprintf("baseline %g before the hangs (+%g slack), %g after timeout + grace", b, slack, v)
		if v > b+slack {
			explain += s.leakedStacks(base)
		}
		s.CheckLE(metric+" back to baseline", v, b+slack, unitCount, explain)
	} else {
		s.Skip(metric+" back to baseline", "neither goroutines nor threads are measured for "+s.T.Describe())
	}
	s.childCheck(ctx, base, grace)
	if diskKnown {
		o := eventually.Poll(ctx, grace, 20*time.Millisecond, func(ctx context.Context) (bool, string, error) {
			d, _ := s.DirBytes()
			return d <= diskBase, result.FormatValue(d, unitBytes), nil
		})
		d, _ := s.DirBytes()
		s.CheckLE("partial clone data removed", d-diskBase, 0, unitBytes, fmt.Sprintf("disk under %s: %s before the stalled clone, %s after timeout + grace (%s)", strings.Join(s.watchedDirs(), " and "), result.FormatValue(diskBase, unitBytes), result.FormatValue(d, unitBytes), o.Observed))
	} else {
		s.Skip("partial clone data removed", "target's base dir unknown and no --target-watch-dir given")
	}
}
