package scenarios

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/fixtures/repogen"
	"github.com/gitchaos/gitchaos/harness/eventually"
	"github.com/gitchaos/gitchaos/harness/flat"
	"github.com/gitchaos/gitchaos/harness/probe"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
	"github.com/gitchaos/gitchaos/harness/testbed"
)

// SoakOptions configure RunSoak: the suite options (target, testbed,
// settings, seed, logger) plus the soak's length and shape.
type SoakOptions struct {
	Options
	// Duration of the soak (required, >= Window).
	Duration time.Duration
	// Window between quiet points (default 1 min): at the end of each
	// window every fault is recovered, the extra scopes are deleted and one
	// settled sample is taken; those per-window values are judged for
	// flatness like a churn gate's cycles. Duration/Window is the number of
	// windows.
	Window time.Duration
	// StepsPerWindow is how many planned steps each window runs (default
	// DefaultStepsPerWindow(Window)). The schedule is logical: a window
	// ends after its steps, not at a wall-clock time, and a fault lasts a
	// number of steps, so the same seed and options run the same steps
	// whatever the machine's speed; Window only paces them (the pauses
	// between steps are fractions of it) and the wall-clock length of a
	// soak is about Duration on an unloaded machine.
	StepsPerWindow int
	// Hosts in the testbed (default 2, at most 3).
	Hosts int
	// Baseline scopes kept for the whole soak (default 3; Options.Scopes
	// overrides it).
	Baseline int
	// Pool repos per host that extra scopes use (default 6).
	Pool int
	// MaxExtra caps the extra scopes alive at once (default 24).
	MaxExtra int
	// Budgets per window override flat's default per-cycle budgets
	// (metric name -> budget).
	Budgets map[string]float64
	// TotalBudgets bound each metric's growth over the whole soak (the
	// floor of the last windows minus that of the first): a per-window
	// budget alone tolerates growth proportional to the soak's length.
	// Nil means DefaultSoakTotalBudgets; a metric without an entry is not
	// judged in total.
	TotalBudgets map[string]float64
	// SampleInterval of the timeline (default 500 ms).
	SampleInterval time.Duration
	// Progress, if set, is called after each timeline sample (from one
	// goroutine, never concurrently) with the soak's status so far.
	Progress func(SoakStatus)
}

// SoakStatus is a soak's progress so far.
type SoakStatus struct {
	Elapsed  time.Duration
	Duration time.Duration
	Steps    int                // steps executed
	Windows  int                // quiet points reached and judged
	Values   map[string]float64 // the latest timeline sample (fds, rss_bytes, goroutines, heap_bytes)
	Verdict  result.Verdict     // pass (so far), fail, or skip before enough windows
	Failing  []string           // what fails so far, with numbers
	Last     string             // the last step
}

// Soak defaults.
const (
	DefaultSoakWindow   = time.Minute
	defaultSoakHosts    = 2
	defaultSoakBaseline = 3
	defaultSoakPool     = 6
	defaultSoakMaxExtra = 24
	defaultSoakInterval = 500 * time.Millisecond
	soakStepTimeout     = 15 * time.Second
)

// DefaultSoakTotalBudgets bound heap and RSS growth over a whole soak,
// however long: 16 MiB of heap, 64 MiB of RSS (an 8 h soak of 1-minute
// windows at the per-window RSS budget would tolerate 240 MiB).
var DefaultSoakTotalBudgets = map[string]float64{probe.Heap: 16 << 20, probe.RSS: 64 << 20}

// soakTotalFloor is how many windows at each end of the soak the total
// growth takes the minimum of (a cache freed every few windows reads as
// its floor, as in the per-window verdict).
const soakTotalFloor = 3

// judgeTotal judges each metric's growth over the whole soak against
// TotalBudgets: min of the last soakTotalFloor windows minus min of the
// first ones. RSS of an in-process target is left out (the harness's own
// process; heap is judged).
func (k *soak) judgeTotal() {
	budgets := k.o.TotalBudgets
	if budgets == nil {
		budgets = DefaultSoakTotalBudgets
	}
	for _, m := range k.series.metrics {
		b, ok := budgets[m]
		vals := k.series.values[m]
		if !ok || len(vals) == 0 || (m == probe.RSS && k.T.InProcess()) {
			continue
		}
		name := m + " total growth over the soak"
		if len(vals) < 2 {
			k.Skip(name, fmt.Sprintf("%d window judged, need 2", len(vals)))
			continue
		}
		w := min(soakTotalFloor, len(vals)/2)
		first, last := slices.Min(vals[:w]), slices.Min(vals[len(vals)-w:])
		u := flat.UnitOf(m)
		if u != "bytes" {
			u = unitCount
		}
		k.CheckLE(name, last-first, b, u, fmt.Sprintf("floor of the last %d windows minus floor of the first %d, over %d windows: %s -> %s",
			w, w, len(vals), flatFmt(m, first), flatFmt(m, last)))
	}
}

// timelineMetrics are sampled throughout the soak.
var timelineMetrics = []string{probe.FDs, probe.RSS, probe.Goroutines, probe.Heap}

func (o *SoakOptions) soakDefaults() {
	o.Options.defaults()
	o.Kind = "soak"
	if o.Window <= 0 {
		o.Window = DefaultSoakWindow
	}
	if o.Hosts == 0 {
		o.Hosts = defaultSoakHosts
	}
	if o.Baseline == 0 {
		o.Baseline = defaultSoakBaseline
	}
	if o.Scopes > 0 {
		o.Baseline = o.Scopes
	}
	if o.Pool == 0 {
		o.Pool = defaultSoakPool
	}
	if o.MaxExtra == 0 {
		o.MaxExtra = defaultSoakMaxExtra
	}
	if o.SampleInterval <= 0 {
		o.SampleInterval = defaultSoakInterval
	}
	if o.StepsPerWindow == 0 {
		o.StepsPerWindow = DefaultStepsPerWindow(o.Window)
	}
}

// DefaultStepsPerWindow is about as many steps as a window's length holds
// at the plan's mean pause (2.5% of a window, 20 ms to 2.4 s) plus 10 ms per
// step: 36 for windows up to 96 s, fewer per minute beyond.
func DefaultStepsPerWindow(window time.Duration) int {
	pause := min(max(time.Duration(float64(window)*0.025), 20*time.Millisecond), 2400*time.Millisecond)
	return max(1, int(window/(pause+10*time.Millisecond)))
}

// Validate reports what is wrong with the soak options.
func (o *SoakOptions) Validate() error {
	var errs []error
	if err := o.Options.Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.Duration <= 0 {
		errs = append(errs, fmt.Errorf("soak: duration %v: must be > 0", o.Duration))
	}
	if o.Window < time.Second {
		errs = append(errs, fmt.Errorf("soak: window %v: must be >= 1s", o.Window))
	}
	if o.Duration > 0 && o.Duration < o.Window {
		errs = append(errs, fmt.Errorf("soak: duration %v is shorter than one window (%v)", o.Duration, o.Window))
	}
	if o.Hosts < 1 || o.Hosts > 3 {
		errs = append(errs, fmt.Errorf("soak: hosts %d: want 1 to 3", o.Hosts))
	}
	if o.Baseline < 1 || o.Pool < 1 || o.MaxExtra < 1 {
		errs = append(errs, fmt.Errorf("soak: baseline %d, pool %d, max extra %d: each must be >= 1", o.Baseline, o.Pool, o.MaxExtra))
	}
	if o.StepsPerWindow < 1 {
		errs = append(errs, fmt.Errorf("soak: steps per window %d: must be >= 1", o.StepsPerWindow))
	}
	if o.SampleInterval < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("soak: sample interval %v: must be >= 10ms", o.SampleInterval))
	}
	return errors.Join(errs...)
}

// Soak step kinds.
const (
	stepPutNew     = "put-new"     // a new scope on a pool repo no live extra scope uses
	stepPutShared  = "put-shared"  // a new scope on a pool repo a live extra scope already uses
	stepDelete     = "delete"      // delete a live extra scope
	stepRefreshOne = "refresh-one" // refresh one live scope
	stepRefreshAll = "refresh-all" // refresh every scope
	stepPush       = "push"        // push a commit to a pool repo
	stepFlap       = "flap"        // a host flaps for a while
	stepBlackhole  = "blackhole"   // a host blackholed for a while
	stepRepoHang   = "repo-hang"   // git requests to a pool repo hang for a while
	stepRepo500    = "repo-500"    // git requests to a pool repo answer 500 for a while
	stepRestart    = "restart"     // restart the target at the next quiet point
)

var stepWeights = []struct {
	kind   string
	weight int
}{
	{stepPutNew, 54}, {stepPutShared, 24}, {stepDelete, 60}, {stepRefreshOne, 30}, {stepRefreshAll, 12},
	{stepPush, 48}, {stepFlap, 12}, {stepBlackhole, 9}, {stepRepoHang, 9}, {stepRepo500, 9}, {stepRestart, 1},
}

// soakStep is one planned step. The plan is drawn from the seed alone, so
// the same seed gives the same sequence whatever the timing; Pick is
// resolved against the soak's state when the step runs.
type soakStep struct {
	N     int
	Kind  string
	Host  int
	Pick  int
	Life  int           // how many steps a fault stays on (recovered before step N+Life)
	Pause time.Duration // wait after the step
	// flap schedule
	Up, Down time.Duration
}

func (st soakStep) String() string {
	if st.N < 0 { // not a planned step: a quiet point's or a recovery's work
		return st.Kind
	}
	switch st.Kind {
	case stepFlap:
		return fmt.Sprintf("#%d flap h%d %d steps (up %v, down %v)", st.N, st.Host, st.Life, st.Up, st.Down)
	case stepBlackhole:
		return fmt.Sprintf("#%d blackhole h%d %d steps", st.N, st.Host, st.Life)
	case stepRepoHang, stepRepo500:
		return fmt.Sprintf("#%d %s h%d repo %d %d steps", st.N, st.Kind, st.Host, st.Pick, st.Life)
	case stepRefreshAll, stepRestart:
		return fmt.Sprintf("#%d %s", st.N, st.Kind)
	case stepPush, stepPutNew, stepPutShared:
		return fmt.Sprintf("#%d %s h%d pick %d", st.N, st.Kind, st.Host, st.Pick)
	}
	return fmt.Sprintf("#%d %s pick %d", st.N, st.Kind, st.Pick)
}

type soakPlan struct {
	r              *rand.Rand
	hosts          int
	pool           int
	window         time.Duration
	stepsPerWindow int
	n              int
}

func newSoakPlan(seed int64, hosts, pool int, window time.Duration, stepsPerWindow int) *soakPlan {
	return &soakPlan{r: rand.New(rand.NewPCG(uint64(seed), hashName("soak-plan"))), hosts: hosts, pool: pool, window: window, stepsPerWindow: stepsPerWindow}
}

func (p *soakPlan) next() soakStep {
	total := 0
	for _, w := range stepWeights {
		total += w.weight
	}
	k := p.r.IntN(total)
	kind := ""
	for _, w := range stepWeights {
		if k < w.weight {
			kind = w.kind
			break
		}
		k -= w.weight
	}
	// Every field is drawn for every step so that the stream of draws
	// does not depend on the kinds drawn before.
	st := soakStep{N: p.n, Kind: kind, Host: p.r.IntN(p.hosts), Pick: p.r.IntN(1 << 20)}
	// A fault stays on for 5–25% of a window, counted in steps.
	frac := 0.05 + 0.2*p.r.Float64()
	st.Life = max(1, int(math.Round(frac*float64(p.stepsPerWindow))))
	// Pauses of 1–4% of a window (20 ms to 2.4 s): a short window (tests)
	// still sees dozens of steps, a long one about one step every 1.5 s.
	st.Pause = min(max(time.Duration(float64(p.window)*(0.01+0.03*p.r.Float64())), 20*time.Millisecond), 2400*time.Millisecond).Round(time.Millisecond)
	st.Up = time.Duration(100+p.r.IntN(300)) * time.Millisecond
	st.Down = time.Duration(100+p.r.IntN(300)) * time.Millisecond
	if kind == stepRepoHang || kind == stepRepo500 || kind == stepPush || kind == stepPutNew || kind == stepPutShared {
		st.Pick %= p.pool
	}
	p.n++
	return st
}

// soakScope is a live extra scope.
type soakScope struct {
	id   string
	repo *Repo
}

// activeFault is a fault on until a step number.
type activeFault struct {
	key   string // "h1" for network faults, "h1/repo" for repo faults
	until int    // recovered before this step runs
	undo  func(context.Context) error
}

// soak is a running soak.
type soak struct {
	*S
	o     SoakOptions
	start time.Time
	plan  *soakPlan

	baseIDs   []string
	baseWant  map[string]string
	baseStats map[string]float64
	baseDirs  int
	pool      [][]*Repo // per host
	extras    []soakScope
	nextID    int
	faults    []activeFault
	restartAt bool // a restart step asked for a restart at the next quiet point

	series  *cycleSeries
	offset  map[string]float64 // stitching across restarts
	quietMu sync.Mutex         // held while the quiet point samples; the timeline waits

	// report state
	ran, skipped int // planned steps by outcome (errors: stepErrs)
	stepErrs     int
	firstErrs    []string
	cacheWorst   float64
	cacheWhy     string
	statsOK      bool
	statsWhy     string // why the caches are not judged (stats lack them)
	dirsWorst    int
	dirsWhy      string
	unserved     int
	unservedWhy  string
	restarts     int
	restartLog   []string

	mu       sync.Mutex // guards what the timeline goroutine reads
	steps    int
	windows  int
	last     string
	verdict  result.Verdict
	failing  []string
	timeline map[string][]result.Point
	scopesTL []result.Point
	live     int
}

// RunSoak runs a seeded random mix of steps and faults against one target
// on one testbed for opts.Duration, sampling the target throughout and
// judging the per-window settled values for flatness. Cancelling ctx ends
// it cleanly: faults are recovered, target and testbed closed, and the
// partial run is returned with what was judged so far. The error is for
// bad options only.
func RunSoak(ctx context.Context, opts SoakOptions) (*result.Run, error) {
	opts.soakDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	run := &result.Run{
		ID:       fmt.Sprintf("soak-%d-%s", opts.Seed, time.Now().UTC().Format("20060102T150405Z")),
		Kind:     "soak",
		Seed:     opts.Seed,
		Target:   opts.Targets.Describe(),
		Testbed:  opts.TestbedKind,
		Mutants:  opts.Mutants,
		Started:  time.Now().UTC(),
		Versions: versions(),
	}
	res := &result.Scenario{Name: "soak", Seed: opts.Seed, Started: run.Started, Params: map[string]any{
		"duration": opts.Duration.String(), "window": opts.Window.String(), "hosts": opts.Hosts,
		"baseline_scopes": opts.Baseline, "pool_repos_per_host": opts.Pool, "max_extra_scopes": opts.MaxExtra,
		"sample_interval": opts.SampleInterval.String(), "steps_per_window": opts.StepsPerWindow,
	}}
	run.Scenarios = []*result.Scenario{res}
	start := time.Now()
	defer func() {
		res.Duration = result.Secs(time.Since(start))
		run.Duration = res.Duration
	}()
	if opts.Strict {
		defer res.Strict()
	}
	runSoak(ctx, opts, res, start)
	return run, nil
}

func runSoak(ctx context.Context, opts SoakOptions, res *result.Scenario, start time.Time) {
	logger := opts.Logger.With("scenario", "soak")
	setupCtx, cancelSetup := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelSetup()
	tb, err := opts.Testbeds(setupCtx, testbed.Options{Hosts: opts.Hosts, Seed: opts.Seed, Logger: logger})
	if err != nil {
		res.Error = fmt.Sprintf("start testbed: %v", err)
		return
	}
	defer func() {
		if err := tb.Close(); err != nil {
			res.Error = joinErr(res.Error, fmt.Sprintf("close testbed: %v", err))
		}
	}()
	t, err := opts.Targets.New(setupCtx, opts.Settings)
	if err != nil {
		res.Error = fmt.Sprintf("start target: %v", err)
		return
	}
	s := newS("soak", tb, t, opts.Options, logger, start, res)
	k := &soak{S: s, o: opts, start: start, plan: newSoakPlan(opts.Seed, opts.Hosts, opts.Pool, opts.Window, opts.StepsPerWindow),
		series: newCycleSeries().each("window"), offset: map[string]float64{}, statsOK: true, verdict: result.Skip,
		timeline: map[string][]result.Point{}}
	defer s.teardown(ctx, t, func(cctx context.Context) {
		for _, e := range k.extras {
			if err := s.C.DeleteScope(cctx, e.id); err != nil && !target.IsStatus(err, http.StatusNotFound) {
				s.Logf("cleanup: delete scope %s: %v", e.id, err)
			}
		}
	})
	defer func() {
		if r := recover(); r != nil {
			res.Error = joinErr(res.Error, fmt.Sprintf("panic: %v\n%s", r, debug.Stack()))
		}
	}()
	if err := k.setup(setupCtx); err != nil {
		if ctx.Err() != nil {
			k.interrupted(time.Since(start))
			return
		}
		res.Error = fmt.Sprintf("setup: %v", err)
		return
	}
	cancelSetup()

	sctx, stopSampling := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		k.sampleTimeline(sctx)
	}()
	stop := func() { stopSampling(); wg.Wait() }
	defer stop() // on a panic too: the sampler never outlives the target
	k.loop(ctx)
	stop()
	k.finish(ctx)
}

// setup creates the repos, puts the baseline scopes and records the
// baseline caches.
func (k *soak) setup(ctx context.Context) error {
	spec := repogen.DefaultSpec()
	hosts := k.TB.Hosts()
	var base []Repo
	for i := range k.o.Baseline {
		h := hosts[i%len(hosts)]
		rs, err := k.CreateRepos(ctx, h, i, 1, spec)
		if err != nil {
			return err
		}
		base = append(base, rs...)
	}
	for hi, h := range hosts {
		first := k.o.Baseline + hi*k.o.Pool
		rs, err := k.CreateRepos(ctx, h, first, k.o.Pool, spec)
		if err != nil {
			return err
		}
		ps := make([]*Repo, len(rs))
		for i := range rs {
			ps[i] = &rs[i]
		}
		k.pool = append(k.pool, ps)
	}
	k.baseWant = map[string]string{}
	var urls []string
	for i, r := range base {
		id := k.ScopeID(i)
		k.baseIDs = append(k.baseIDs, id)
		urls = append(urls, r.URL())
		k.baseWant[id] = r.Head
	}
	k.nextID = len(base)
	if err := k.PutScopes(ctx, k.baseIDs, urls); err != nil {
		return err
	}
	if _, out := k.served(ctx, k.baseIDs, k.baseWant, 60*time.Second); !out.OK {
		return fmt.Errorf("baseline scopes never served: %s", out.Describe())
	}
	if err := k.settleInFlight(ctx, 30*time.Second); err != nil {
		return err
	}
	st, ok, err := k.Stats(ctx)
	if err != nil {
		return fmt.Errorf("baseline stats: %w", err)
	}
	k.statsOK = lacksCaches(st, ok) == ""
	k.statsWhy = lacksCaches(st, ok)
	if k.statsOK {
		k.baseStats = map[string]float64{}
		for _, key := range target.CacheKeys {
			k.baseStats[key] = st[key]
		}
	}
	if dirs, known := k.CloneDirs(); known {
		k.baseDirs = len(dirs)
	}
	k.setLive()
	k.Mark(result.MarkerPhase, fmt.Sprintf("baseline: %d scopes served", len(k.baseIDs)))
	return nil
}

// loop runs Duration/Window windows of StepsPerWindow steps each (or
// until ctx ends), with a quiet point at the end of every window. Which
// steps run, and what they resolve to, depends on the seed and the options
// only: no wall-clock time decides anything.
func (k *soak) loop(ctx context.Context) {
	windows := int(k.o.Duration / k.o.Window)
	for w := 0; w < windows; w++ {
		for i := 0; i < k.o.StepsPerWindow && ctx.Err() == nil; i++ {
			k.recoverExpired(ctx, k.plan.n)
			st := k.plan.next()
			k.step(ctx, st)
			if i < k.o.StepsPerWindow-1 {
				wait(ctx, st.Pause)
			}
		}
		if ctx.Err() != nil {
			return
		}
		k.quietPoint(ctx, w)
		if ctx.Err() != nil {
			return
		}
	}
}

// wait sleeps d or until ctx ends.
func wait(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (k *soak) setLive() {
	k.mu.Lock()
	k.live = len(k.baseIDs) + len(k.extras)
	k.mu.Unlock()
}

// step runs one planned step and records its outcome in the report as a
// "step" marker: "<step> → ran", "→ skipped: <why>", "→ error: <class>"
// (HTTP status or "no answer"; the message goes to the step errors) or
// "→ interrupted" when the soak ended during it. The markers are the
// executed list a replay compares.
func (k *soak) step(ctx context.Context, st soakStep) {
	k.mu.Lock()
	k.steps++
	k.last = st.String()
	k.mu.Unlock()
	skip, err := k.runStep(ctx, st)
	outcome := "ran"
	switch {
	case ctx.Err() != nil:
		outcome = "interrupted"
	case err != nil:
		outcome = "error: " + errClass(err)
		k.stepErr(ctx, st, err)
	case skip != "":
		outcome = "skipped: " + skip
		k.skipped++
	default:
		k.ran++
	}
	k.Mark(result.MarkerStep, st.String()+" → "+outcome)
}

// errClass is the part of a step error that does not depend on timing or
// ports: the HTTP status, or that there was no answer.
func errClass(err error) string {
	var se *target.StatusError
	if errors.As(err, &se) {
		return fmt.Sprintf("HTTP %d", se.Status)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer in time"
	}
	return "no answer"
}

// stepErr records a step that failed for a reason other than the soak
// ending.
func (k *soak) stepErr(ctx context.Context, st soakStep, err error) {
	if err == nil || ctx.Err() != nil {
		return
	}
	k.stepErrs++
	if len(k.firstErrs) < 5 {
		k.firstErrs = append(k.firstErrs, fmt.Sprintf("%v at %.1fs: %v", st, time.Since(k.start).Seconds(), err))
	}
	k.Logger.Warn("soak: step failed", "step", st.String(), "err", err)
}

func (k *soak) busy(key string) bool {
	return slices.ContainsFunc(k.faults, func(f activeFault) bool { return f.key == key })
}

// runStep resolves and runs one planned step. It returns why it was
// skipped ("" = it ran) and its error.
func (k *soak) runStep(ctx context.Context, st soakStep) (skip string, err error) {
	sctx, cancel := context.WithTimeout(ctx, soakStepTimeout)
	defer cancel()
	host := k.Host(st.Host)
	switch st.Kind {
	case stepPutNew, stepPutShared:
		if len(k.extras) >= k.o.MaxExtra {
			return fmt.Sprintf("%d extra scopes alive (max)", k.o.MaxExtra), nil
		}
		used := map[*Repo]bool{}
		for _, e := range k.extras {
			used[e.repo] = true
		}
		var cands []*Repo
		for _, r := range k.pool[st.Host] {
			if used[r] == (st.Kind == stepPutShared) {
				cands = append(cands, r)
			}
		}
		if len(cands) == 0 {
			cands = k.pool[st.Host]
		}
		r := cands[st.Pick%len(cands)]
		id := k.ScopeID(k.nextID)
		k.nextID++
		err := k.C.PutScope(sctx, target.NewScope(id, r.URL(), "main"))
		var se *target.StatusError
		if !errors.As(err, &se) {
			// Count it as live even on a transport error: the put may
			// have happened, and deleting it later is harmless.
			k.extras = append(k.extras, soakScope{id: id, repo: r})
			k.setLive()
		}
		if err != nil {
			return "", fmt.Errorf("put %s: %w", id, err)
		}
	case stepDelete:
		if len(k.extras) == 0 {
			return "no extra scope alive", nil
		}
		i := st.Pick % len(k.extras)
		e := k.extras[i]
		k.extras = slices.Delete(k.extras, i, i+1)
		k.setLive()
		if err := k.C.DeleteScope(sctx, e.id); err != nil && !target.IsStatus(err, http.StatusNotFound) {
			return "", fmt.Errorf("delete %s: %w", e.id, err)
		}
	case stepRefreshOne:
		ids := append(slices.Clone(k.baseIDs), extraIDs(k.extras)...)
		id := ids[st.Pick%len(ids)]
		if err := k.C.Refresh(sctx, id); err != nil {
			return "", fmt.Errorf("refresh %s: %w", id, err)
		}
	case stepRefreshAll:
		if err := k.C.RefreshAll(sctx); err != nil {
			return "", fmt.Errorf("refresh all: %w", err)
		}
	case stepPush:
		if err := k.Push(sctx, k.pool[st.Host][st.Pick]); err != nil {
			return "", err
		}
	case stepFlap, stepBlackhole:
		key := host.Name
		if k.busy(key) {
			return key + " already faulted", nil
		}
		spec := "blackhole"
		if st.Kind == stepFlap {
			spec = fmt.Sprintf("flap:up=%s,down=%s", st.Up, st.Down)
		}
		undo, err := k.Inject(sctx, host, fault(spec))
		if err != nil {
			return "", err
		}
		k.faults = append(k.faults, activeFault{key: key, until: st.N + st.Life, undo: undo})
	case stepRepoHang, stepRepo500:
		r := k.pool[st.Host][st.Pick]
		key := host.Name + "/" + r.Name
		if k.busy(key) {
			return key + " already faulted", nil
		}
		mode := gitserver.FaultHang
		if st.Kind == stepRepo500 {
			mode = gitserver.FaultHTTP500
		}
		undo, err := k.RepoFault(sctx, host, r.Name, gitserver.Fault{Mode: mode})
		if err != nil {
			return "", err
		}
		k.faults = append(k.faults, activeFault{key: key, until: st.N + st.Life, undo: undo})
	case stepRestart:
		if k.restartAt {
			return "a restart is already due at the next quiet point", nil
		}
		k.restartAt = true
	}
	return "", nil
}

func extraIDs(es []soakScope) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.id
	}
	return out
}

// recoverExpired undoes the faults whose last step is before step n.
func (k *soak) recoverExpired(ctx context.Context, n int) {
	kept := k.faults[:0]
	for _, f := range k.faults {
		if n < f.until {
			kept = append(kept, f)
			continue
		}
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), soakStepTimeout)
		if err := f.undo(uctx); err != nil {
			k.stepErr(ctx, soakStep{N: -1, Kind: "recover " + f.key}, err)
		}
		cancel()
	}
	k.faults = kept
}

// quietPoint ends window w: every fault off, extra scopes deleted, caches
// back to the baseline, the baseline scopes served, one settled sample.
func (k *soak) quietPoint(ctx context.Context, w int) {
	k.Mark(result.MarkerPhase, fmt.Sprintf("quiet point %d", w))
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	if err := k.recoverAll(rctx); err != nil {
		k.stepErr(ctx, soakStep{N: -1, Kind: "recover all"}, err)
	}
	cancel()
	k.faults = nil
	qctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for _, e := range k.extras {
		if err := k.C.DeleteScope(qctx, e.id); err != nil && !target.IsStatus(err, http.StatusNotFound) {
			k.stepErr(ctx, soakStep{N: -1, Kind: "quiet delete " + e.id}, err)
		}
	}
	k.extras = nil
	k.setLive()
	wait := 5*k.Settings.GitTimeout + 5*time.Second
	if err := k.settleInFlight(qctx, wait); err != nil && ctx.Err() == nil {
		k.stepErr(ctx, soakStep{N: -1, Kind: "quiet point"}, err)
	}
	k.checkQuiet(qctx, w)
	if ctx.Err() != nil {
		return
	}
	k.closeIdle()
	k.quietMu.Lock()
	smp, err := k.settledSample(qctx)
	k.quietMu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			k.stepErr(ctx, soakStep{N: -1, Kind: "quiet sample"}, err)
		}
		return
	}
	k.addWindow(smp)
	if k.restartAt {
		k.restartAt = false
		k.restart(ctx, qctx, smp)
	}
	k.provisional()
}

// closeIdle closes the idle keep-alive connections the harness holds (the
// testbed's admin clients; the default transport, which an in-process
// target's git fetches use) before a settled sample: an idle connection
// is bounded, not a leak, and in one process each costs up to four fds
// (client, proxy in, proxy out, server).
func (k *soak) closeIdle() {
	for _, h := range k.TB.Hosts() {
		if h.Admin != nil && h.Admin.HTTP != nil {
			h.Admin.HTTP.CloseIdleConnections()
		}
	}
	if k.T.InProcess() {
		if t, ok := http.DefaultTransport.(*http.Transport); ok {
			t.CloseIdleConnections()
		}
	}
}

// checkQuiet checks caches, clone dirs and served baseline scopes at a
// quiet point.
func (k *soak) checkQuiet(ctx context.Context, w int) {
	if k.statsOK {
		dev := 1.0 // until the stats are read: off by at least one
		out := eventually.Poll(ctx, 5*time.Second, 20*time.Millisecond, func(ctx context.Context) (bool, string, error) {
			st, ok, err := k.Stats(ctx)
			if err != nil || !ok {
				dev = 1
				return false, "no stats", err
			}
			var parts []string
			dev = 0
			for _, key := range target.CacheKeys {
				v := st[key]
				dev += math.Abs(v - k.baseStats[key])
				parts = append(parts, fmt.Sprintf("%s=%g (baseline %g)", key, v, k.baseStats[key]))
			}
			return dev == 0, fmt.Sprintf("off by %g: %s", dev, strings.Join(parts, " ")), nil
		})
		if ctx.Err() != nil {
			return
		}
		if !out.OK {
			if dev > k.cacheWorst || k.cacheWhy == "" {
				k.cacheWorst, k.cacheWhy = dev, fmt.Sprintf("quiet point %d: %s", w, out.Describe())
			}
		}
	}
	if dirs, known := k.CloneDirs(); known && len(dirs)-k.baseDirs > k.dirsWorst {
		k.dirsWorst, k.dirsWhy = len(dirs)-k.baseDirs, fmt.Sprintf("quiet point %d: %d clone dirs, baseline %d: %s", w, len(dirs), k.baseDirs, joinIDs(dirs))
	}
	if _, out := k.served(ctx, k.baseIDs, k.baseWant, 30*time.Second); !out.OK && ctx.Err() == nil {
		k.unserved++
		if k.unservedWhy == "" {
			k.unservedWhy = fmt.Sprintf("quiet point %d: %s", w, out.Describe())
		}
	}
}

// addWindow records a settled sample as one window, stitched across
// restarts.
func (k *soak) addWindow(smp probe.Sample) {
	adj := probe.Sample{Time: smp.Time, Values: map[string]float64{}, Unavailable: smp.Unavailable}
	for m, v := range smp.Values {
		adj.Values[m] = v + k.offset[m]
	}
	k.series.add(adj)
	k.mu.Lock()
	k.windows++
	k.mu.Unlock()
}

// restart restarts the target at a quiet point (when it can be) and
// stitches the per-window series: the next windows are shifted by the
// step the restart itself caused, so a leak that a restart resets still
// reads as growth.
func (k *soak) restart(ctx, qctx context.Context, pre probe.Sample) {
	k.Mark(result.MarkerPhase, "restart")
	err := k.T.Restart(qctx, false)
	if errors.Is(err, target.ErrUnsupported) {
		k.restartLog = append(k.restartLog, "restart unsupported by "+k.T.Describe()+": skipped")
		return
	}
	if err != nil {
		k.stepErr(ctx, soakStep{N: -1, Kind: stepRestart}, err)
		return
	}
	k.restarts++
	if _, out := k.served(qctx, k.baseIDs, k.baseWant, 60*time.Second); !out.OK {
		k.stepErr(ctx, soakStep{N: -1, Kind: stepRestart}, fmt.Errorf("baseline not served after restart: %s", out.Describe()))
		return
	}
	_ = k.settleInFlight(qctx, 30*time.Second)
	if st, ok, err := k.Stats(qctx); err == nil && ok {
		for _, key := range target.CacheKeys {
			k.baseStats[key] = st[key]
		}
	}
	k.closeIdle()
	k.quietMu.Lock()
	post, err := k.settledSample(qctx)
	k.quietMu.Unlock()
	if err != nil {
		k.stepErr(ctx, soakStep{N: -1, Kind: stepRestart}, fmt.Errorf("sample after restart: %w", err))
		return
	}
	var parts []string
	for _, m := range k.series.metrics {
		a, okA := pre.Get(m)
		b, okB := post.Get(m)
		if okA && okB {
			k.offset[m] += a - b
			parts = append(parts, fmt.Sprintf("%s %s→%s", m, flatFmt(m, a), flatFmt(m, b)))
		}
	}
	line := fmt.Sprintf("restart %d at %.0fs: %s", k.restarts, time.Since(k.start).Seconds(), strings.Join(parts, ", "))
	k.restartLog = append(k.restartLog, line)
	k.Mark(result.MarkerPhase, line)
}

func flatFmt(metric string, v float64) string {
	if flat.UnitOf(metric) == "bytes" {
		return formatBytes(v)
	}
	return format(v, unitCount)
}

// trendOptions are the flatness options of a metric over soak windows.
func (k *soak) trendOptions(m string) flat.TrendOptions {
	return k.S.trendOptions(k.series, m, leakJudge{budgets: k.o.Budgets, soak: true})
}

// need is the number of windows flat.Trend needs for a metric.
func (k *soak) need(m string) int { return k.trendOptions(m).Needed() }

// provisional judges the windows so far, for the progress line.
func (k *soak) provisional() {
	var failing []string
	v := result.Skip
	for _, m := range k.series.metrics {
		vals := k.series.values[m]
		if len(vals) < k.need(m) {
			continue
		}
		tr, err := flat.Trend(vals, k.trendOptions(m))
		if err != nil {
			continue
		}
		if v == result.Skip {
			v = result.Pass
		}
		if tr.Leak {
			v = result.Fail
			slope := fmt.Sprintf("%+.3g", tr.Slope)
			if flat.UnitOf(m) == "bytes" {
				slope = "+" + formatBytes(tr.Slope)
			}
			failing = append(failing, fmt.Sprintf("%s %s/window", m, slope))
		}
	}
	if k.stepErrs > 0 || k.unserved > 0 || k.cacheWorst > 0 || k.dirsWorst > 0 {
		v = result.Fail
		if k.stepErrs > 0 {
			failing = append(failing, fmt.Sprintf("%d step errors", k.stepErrs))
		}
		if k.unserved > 0 {
			failing = append(failing, fmt.Sprintf("baseline unserved at %d quiet points", k.unserved))
		}
		if k.cacheWorst > 0 {
			failing = append(failing, "caches not drained")
		}
		if k.dirsWorst > 0 {
			failing = append(failing, "clone dirs left")
		}
	}
	k.mu.Lock()
	k.verdict, k.failing = v, failing
	k.mu.Unlock()
}

// sampleTimeline samples the target every interval until ctx ends.
func (k *soak) sampleTimeline(ctx context.Context) {
	t := time.NewTicker(k.o.SampleInterval)
	defer t.Stop()
	for {
		k.quietMu.Lock()
		src := k.T.Probe()
		var smp probe.Sample
		var err error
		if src != nil {
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			smp, err = src.Sample(sctx)
			cancel()
		}
		k.quietMu.Unlock()
		x := time.Since(k.start).Seconds()
		k.mu.Lock()
		if src != nil && err == nil {
			for _, m := range timelineMetrics {
				if v, ok := smp.Get(m); ok {
					k.timeline[m] = append(k.timeline[m], result.Point{X: x, Y: v})
				}
			}
		}
		k.scopesTL = append(k.scopesTL, result.Point{X: x, Y: float64(k.live)})
		st := SoakStatus{
			Elapsed: time.Since(k.start), Duration: k.o.Duration, Steps: k.steps, Windows: k.windows,
			Values: smp.Values, Verdict: k.verdict, Failing: slices.Clone(k.failing), Last: k.last,
		}
		k.mu.Unlock()
		if k.o.Progress != nil {
			k.o.Progress(st)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// interrupted records that the soak ended early.
func (k *soak) interrupted(after time.Duration) {
	k.Skip("soak ran its full duration", fmt.Sprintf("interrupted after %v of %v: judged %d of %d windows",
		after.Round(time.Second), k.o.Duration, len(k.series.values[probe.FDs]), int(k.o.Duration/k.o.Window)))
	k.Mark(result.MarkerPhase, fmt.Sprintf("interrupted after %v", after.Round(time.Second)))
	k.mu.Lock()
	k.res.Params["interrupted_after"] = after.Round(time.Second).String()
	k.mu.Unlock()
}

// finish records the timeline, the per-window verdicts and the checks.
func (k *soak) finish(ctx context.Context) {
	elapsed := time.Since(k.start)
	// Cleanup of the extra scopes and faults happens in runSoak's defer
	// (recoverAll) and here for the scopes.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := k.recoverAll(cctx); err != nil {
		k.stepErr(cctx, soakStep{N: -1, Kind: "final recover"}, err)
	}
	for _, e := range k.extras {
		_ = k.C.DeleteScope(cctx, e.id)
	}
	k.extras = nil

	k.mu.Lock()
	k.res.Params["steps"] = k.steps
	k.res.Params["steps_ran"] = k.ran
	k.res.Params["steps_skipped"] = k.skipped
	k.res.Params["steps_per_window"] = k.o.StepsPerWindow
	k.res.Params["windows_judged"] = k.windows
	k.res.Params["restarts"] = k.restarts
	for _, m := range timelineMetrics {
		if pts := k.timeline[m]; len(pts) > 0 {
			k.res.Series = append(k.res.Series, result.Series{Name: m + " over time", Metric: m, Unit: flat.UnitOf(m), XUnit: "s", Points: pts})
		}
	}
	k.res.Series = append(k.res.Series, result.Series{Name: "scopes over time", Metric: "scopes", Unit: unitCount, XUnit: "s", Points: k.scopesTL})
	k.mu.Unlock()
	if len(k.restartLog) > 0 {
		k.Logf("restarts: %s", strings.Join(k.restartLog, "; "))
	}

	if ctx.Err() != nil {
		k.interrupted(elapsed)
	} else {
		planned := int(k.o.Duration / k.o.Window)
		k.CheckGE("soak ran its full duration", float64(k.windows), float64(planned), unitCount,
			fmt.Sprintf("windows reached in %v of %v: %d steps (%d ran, %d skipped, %d errors) in %d windows of %d steps, %d restarts", elapsed.Round(time.Second), k.o.Duration, k.steps, k.ran, k.skipped, k.stepErrs, k.windows, k.o.StepsPerWindow, k.restarts))
	}
	windows := len(k.series.values[probe.FDs])
	k.CheckLE("no step error", float64(k.stepErrs), 0, unitCount,
		orDefault(strings.Join(k.firstErrs, "; "), fmt.Sprintf("every one of %d steps and %d quiet points ran without an error", k.steps, windows)))
	if k.statsOK {
		k.CheckLE("caches back to baseline at every quiet point", k.cacheWorst, 0, unitCount,
			orDefault(k.cacheWhy, fmt.Sprintf("repo_locks, repos and repos_last_fetched equalled their baseline (%s) at each of %d quiet points", statsLabel(k.baseStats), windows)))
	} else {
		k.Skip("caches back to baseline at every quiet point", k.statsWhy)
	}
	if _, known := k.CloneDirs(); known {
		k.CheckLE("clone dirs back to baseline at every quiet point", float64(k.dirsWorst), 0, unitCount,
			orDefault(k.dirsWhy, fmt.Sprintf("%d baseline clone dirs and no other at each of %d quiet points", k.baseDirs, windows)))
	} else {
		k.Skip("clone dirs back to baseline at every quiet point", "target's base dir unknown")
	}
	k.CheckLE("baseline scopes served at every quiet point", float64(k.unserved), 0, unitCount,
		orDefault(k.unservedWhy, fmt.Sprintf("all %d baseline scopes served their commit at each of %d quiet points", len(k.baseIDs), windows)))
	k.judgeWindows()
	k.judgeTotal()
}

func statsLabel(m map[string]float64) string {
	var parts []string
	for _, key := range target.CacheKeys {
		parts = append(parts, fmt.Sprintf("%s=%g", key, m[key]))
	}
	return strings.Join(parts, " ")
}

// judgeWindows judges each metric's per-window series with flat.Trend;
// a metric with too few windows (a short or interrupted soak) is skipped
// with the count.
func (k *soak) judgeWindows() {
	enough := newCycleSeries(k.series.metrics...).each("window")
	enough.unavailable = k.series.unavailable
	for _, m := range k.series.metrics {
		vals := k.series.values[m]
		if len(vals) > 0 && len(vals) < k.need(m) {
			k.Skip(m+" flat across soak windows", fmt.Sprintf("%d windows judged, %s needs %d (warm-up %d, floor %d, min %d): run longer or use a shorter --window",
				len(vals), m, k.need(m), flat.DefaultWarmup, flat.Floors[m], flat.DefaultMinCycles))
			k.AddSeries(k.series.series(m))
			continue
		}
		enough.values[m] = vals
	}
	var ms []string
	for _, m := range enough.metrics {
		if _, has := enough.values[m]; has || len(k.series.values[m]) == 0 {
			ms = append(ms, m)
		}
	}
	enough.metrics = ms
	k.judge(enough, leakJudge{what: "soak windows", budgets: k.o.Budgets, soak: true}, "")
}
