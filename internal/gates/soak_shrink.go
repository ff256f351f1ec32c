// Shrinking a failing schedule to a minimal reproducer: ddmin over the
// steps (internal/shrink), then fewer hosts, repos, baseline scopes and
// quiet points and shorter faults, then no pauses. A candidate fails
// only when the same check (by ID) fails in K of N replays.

package gates

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/internal/shrink"
)

// ShrinkOptions configure Shrink.
type ShrinkOptions struct {
	// Options are the replays' target, testbed and logger (the CLI
	// builds them from the schedule's target unless flags say otherwise).
	Options
	Schedule *Schedule
	// Check is the ID of the check that must keep failing (default: the
	// schedule's first failed check).
	Check string
	// K of N replays must fail Check for a candidate to count as failing
	// (default 1 of 1).
	K, N int
	// Verify replays the input first even when it records the check as
	// failed (by default its recorded failure is its verdict).
	Verify bool
	// Budget bounds the whole shrink (default 10 min); when it runs out
	// the smallest failing schedule so far is the result.
	Budget time.Duration
	// Progress, if set, is called after every candidate.
	Progress func(ShrinkStatus)
}

// ShrinkStatus is a shrink's progress.
type ShrinkStatus struct {
	Phase      string        // verify, steps, params, pauses, done
	Candidates int           // candidates tried
	Replays    int           // replays run
	Size       int           // steps of the candidate being tried
	Best       int           // steps of the smallest failing schedule so far
	From       int           // steps of the input
	Elapsed    time.Duration // since the shrink started
	Budget     time.Duration
	Last       string // the last candidate's verdict, e.g. "8 steps: fails 1/1"
	Judged     bool   // this call reports a candidate's verdict (Last is new)
}

// ShrinkResult is a shrink's outcome.
type ShrinkResult struct {
	Schedule *Schedule    // the minimal failing schedule, Failed filled in
	Check    result.Check // the check in the last failing replay of it
	Final    *result.Run  // that replay
	Status   ShrinkStatus // counts and time at the end
	// Stopped says why it ended before a 1-minimal result ("" when it
	// did not): the budget ran out, or ctx ended.
	Stopped string
}

// Shrink minimizes a failing schedule. The error is for bad options, an
// invalid schedule, or a schedule that does not fail Check K of N times
// to begin with.
func Shrink(ctx context.Context, o ShrinkOptions) (*ShrinkResult, error) {
	if o.Schedule == nil {
		return nil, errors.New("shrink: no schedule")
	}
	if err := o.Schedule.Validate(); err != nil {
		return nil, fmt.Errorf("shrink: invalid schedule: %w", err)
	}
	if o.Check == "" {
		if len(o.Schedule.Failed) == 0 {
			return nil, errors.New("shrink: the schedule lists no failed check: name one with --check")
		}
		o.Check = o.Schedule.Failed[0].ID
	}
	if _, ok := byID[o.Check]; !ok {
		return nil, fmt.Errorf("shrink: check %q is not declared (gitchaos checks lists them)", o.Check)
	}
	if o.K <= 0 {
		o.K = 1
	}
	if o.N <= 0 {
		o.N = max(o.K, 1)
	}
	if o.K > o.N {
		return nil, fmt.Errorf("shrink: replays %d/%d: k must be <= n", o.K, o.N)
	}
	if o.Budget <= 0 {
		o.Budget = 10 * time.Minute
	}
	sh := &shrinker{o: o, start: time.Now()}
	sh.st = ShrinkStatus{Phase: "verify", From: o.Schedule.Len(), Best: o.Schedule.Len(), Budget: o.Budget}
	bctx, cancel := context.WithTimeout(ctx, o.Budget)
	defer cancel()

	base := o.Schedule.Clone()
	base.repair()
	base.dropEmptyWindows()
	recorded := slices.ContainsFunc(o.Schedule.Failed, func(c SchedCheck) bool { return c.ID == o.Check })
	if recorded && !o.Verify {
		// The run that wrote the schedule failed the check: that is the
		// input's verdict (a replay of a long soak costs as much as the
		// soak); candidates are replayed.
		sh.best = base
	} else if !sh.fails(bctx, base) {
		if bctx.Err() != nil {
			return nil, fmt.Errorf("shrink: the budget (%v) ended before the first replay did", o.Budget)
		}
		return nil, fmt.Errorf("shrink: the schedule does not fail %s in %d of %d replays (%s): nothing to shrink", o.Check, o.K, o.N, sh.st.Last)
	}
	sh.best = base

	sh.phase("steps")
	idx := make([]int, len(base.Steps))
	for i := range idx {
		idx[i] = i
	}
	shrink.DDMin(bctx, idx, func(ctx context.Context, c []int) ([]int, bool) {
		cand := base.Clone()
		cand.Steps = nil
		for _, i := range c {
			cand.Steps = append(cand.Steps, base.Steps[i])
		}
		cand.repair()
		cand.dropEmptyWindows()
		var kept []int
		for _, st := range cand.Steps {
			kept = append(kept, slices.IndexFunc(base.Steps, func(b SchedStep) bool { return b.N == st.N }))
		}
		return kept, sh.fails(ctx, cand)
	})

	sh.phase("params")
	for _, f := range paramShrinks {
		if bctx.Err() != nil {
			break
		}
		for _, cand := range f(sh.best) {
			if bctx.Err() != nil {
				break
			}
			cand.repair()
			cand.dropEmptyWindows()
			if cand.Validate() != nil {
				continue
			}
			if sh.fails(bctx, cand) {
				break // the other proposals of f were made from the old best
			}
		}
	}

	sh.phase("pauses")
	// Every pause to squeezePause: long pauses go, and the short ones a
	// failure may need (a clone finishing, a fetch starting before the
	// next step) get a margin that does not hang on the machine's speed.
	// Then every pause halved, if that still fails.
	for _, to := range []func(Dur) Dur{
		func(Dur) Dur { return Dur(squeezePause) },
		func(d Dur) Dur { return (d / 2).round() },
	} {
		if bctx.Err() != nil {
			break
		}
		cand := sh.best.Clone()
		changed := false
		for i := range cand.Steps {
			p := to(cand.Steps[i].Pause)
			changed = changed || p != cand.Steps[i].Pause
			cand.Steps[i].Pause = p
		}
		if changed && sh.fails(bctx, cand) {
			break
		}
	}

	sh.phase("done")
	r := &ShrinkResult{Schedule: sh.best, Final: sh.bestRun, Status: sh.st}
	r.Schedule.Source = fmt.Sprintf("shrunk from %d to %d steps (%s, %d/%d replays): %s", sh.st.From, sh.best.Len(), o.Check, o.K, o.N, o.Schedule.Source)
	if sh.bestRun != nil {
		r.Schedule.Failed = failedChecks(sh.bestRun.Scenarios[0])
		r.Check, _ = findCheck(sh.bestRun, o.Check)
	}
	switch {
	case ctx.Err() != nil:
		r.Stopped = "interrupted"
	case bctx.Err() != nil:
		r.Stopped = fmt.Sprintf("the budget of %v ran out", o.Budget)
	}
	return r, nil
}

// squeezePause is the pause every step gets in the pause phase.
const squeezePause = 100 * time.Millisecond

// round keeps a pause to the millisecond.
func (d Dur) round() Dur { return Dur(time.Duration(d).Round(time.Millisecond)) }

type shrinker struct {
	o       ShrinkOptions
	start   time.Time
	st      ShrinkStatus
	best    *Schedule
	bestRun *result.Run
}

func (sh *shrinker) phase(p string) {
	sh.st.Phase = p
	sh.progress()
}

func (sh *shrinker) progress() { sh.report(false) }

func (sh *shrinker) report(judged bool) {
	sh.st.Elapsed = time.Since(sh.start)
	sh.st.Judged = judged
	if sh.o.Progress != nil {
		sh.o.Progress(sh.st)
	}
	sh.st.Judged = false
}

// fails replays cand up to N times and reports whether Check failed in K
// of them (it stops as soon as the answer is known). A failing candidate
// no larger than the best becomes the best.
func (sh *shrinker) fails(ctx context.Context, cand *Schedule) bool {
	sh.st.Candidates++
	sh.st.Size = cand.Len()
	sh.progress()
	failed, ran := 0, 0
	var last *result.Run
	for ran < sh.o.N && failed < sh.o.K && failed+(sh.o.N-ran) >= sh.o.K {
		if ctx.Err() != nil {
			return false
		}
		run, err := RunReplay(ctx, ReplayOptions{Options: sh.o.Options, Schedule: cand})
		ran++
		sh.st.Replays++
		if err != nil {
			sh.st.Last = fmt.Sprintf("%d steps: %v", cand.Len(), err)
			sh.report(true)
			return false
		}
		if ctx.Err() != nil {
			return false // cut off by the budget: no verdict
		}
		if c, ok := findCheck(run, sh.o.Check); ok && c.Verdict == result.Fail {
			failed++
			last = run
		}
	}
	ok := failed >= sh.o.K
	sh.st.Last = fmt.Sprintf("%d steps, %d quiet points: %s fails %d/%d", cand.Len(), len(cand.QuietAfter), sh.o.Check, failed, ran)
	if ok && (sh.best == nil || cand.Len() <= sh.best.Len()) {
		sh.best, sh.bestRun = cand, last
		sh.st.Best = cand.Len()
	}
	sh.report(true)
	return ok
}

// findCheck is the check with id in run.
func findCheck(run *result.Run, id string) (result.Check, bool) {
	for _, sc := range run.Scenarios {
		for _, c := range sc.Checks {
			if c.ID == id {
				return c, true
			}
		}
	}
	return result.Check{}, false
}

// paramShrinks propose smaller parameters for a schedule, one candidate
// per proposal, tried in order; each is kept when it still fails.
var paramShrinks = []func(s *Schedule) []*Schedule{
	fewerHosts, fewerRepos, fewerBaseline, fewerQuietPoints, shorterFaults,
}

// fewerHosts: only the hosts the steps use (renumbered from 0), then
// everything on one host.
func fewerHosts(s *Schedule) []*Schedule {
	var out []*Schedule
	used := map[int]int{}
	for _, st := range s.Steps {
		if usesHost(st.Kind) {
			if _, ok := used[st.Host]; !ok {
				used[st.Host] = len(used)
			}
		}
	}
	if n := max(len(used), 1); n < s.Hosts {
		c := s.Clone()
		c.Hosts = n
		for i := range c.Steps {
			if usesHost(c.Steps[i].Kind) {
				c.Steps[i].Host = used[c.Steps[i].Host]
			}
		}
		out = append(out, c)
	}
	if len(used) > 1 {
		c := s.Clone()
		c.Hosts = 1
		for i := range c.Steps {
			c.Steps[i].Host = 0
		}
		out = append(out, c)
	}
	return out
}

// fewerRepos: only the pool repos the steps use, renumbered from 0 per
// host in order of first use.
func fewerRepos(s *Schedule) []*Schedule {
	used := map[[2]int]int{}
	per := map[int]int{}
	for _, st := range s.Steps {
		if usesRepo(st.Kind) {
			k := [2]int{st.Host, st.Repo}
			if _, ok := used[k]; !ok {
				used[k] = per[st.Host]
				per[st.Host]++
			}
		}
	}
	pool := 1
	for _, n := range per {
		pool = max(pool, n)
	}
	c := s.Clone()
	c.Pool = pool
	changed := pool != s.Pool
	for i := range c.Steps {
		if usesRepo(c.Steps[i].Kind) {
			r := used[[2]int{c.Steps[i].Host, c.Steps[i].Repo}]
			changed = changed || r != c.Steps[i].Repo
			c.Steps[i].Repo = r
		}
	}
	if !changed {
		return nil
	}
	return []*Schedule{c}
}

// fewerBaseline: one baseline scope (refreshes of the others refresh it).
func fewerBaseline(s *Schedule) []*Schedule {
	if s.Baseline <= 1 {
		return nil
	}
	c := s.Clone()
	c.Baseline = 1
	for i := range c.Steps {
		if c.Steps[i].Kind == stepRefreshOne && c.Steps[i].Scope < s.Baseline {
			c.Steps[i].Scope = 0
		}
	}
	return []*Schedule{c}
}

// fewerQuietPoints: all steps in one window, then each inner quiet point
// dropped alone.
func fewerQuietPoints(s *Schedule) []*Schedule {
	if len(s.QuietAfter) < 2 {
		return nil
	}
	one := s.Clone()
	one.QuietAfter = []int{s.QuietAfter[len(s.QuietAfter)-1]}
	out := []*Schedule{one}
	for i := range len(s.QuietAfter) - 1 {
		c := s.Clone()
		c.QuietAfter = slices.Delete(c.QuietAfter, i, i+1)
		out = append(out, c)
	}
	return out
}

// shorterFaults: every fault one step long, then each fault alone.
func shorterFaults(s *Schedule) []*Schedule {
	var out []*Schedule
	all := s.Clone()
	changed := false
	for i := range all.Steps {
		if isFault(all.Steps[i].Kind) && all.Steps[i].Life > 1 {
			all.Steps[i].Life, changed = 1, true
		}
	}
	if !changed {
		return nil
	}
	out = append(out, all)
	for i, st := range s.Steps {
		if isFault(st.Kind) && st.Life > 1 {
			c := s.Clone()
			c.Steps[i].Life = max(1, st.Life/2)
			out = append(out, c)
		}
	}
	return out
}
