package gates

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gitchaos/gitchaos/harness/eventually"
	"github.com/gitchaos/gitchaos/harness/forensics"
	"github.com/gitchaos/gitchaos/harness/probe"
	"github.com/gitchaos/gitchaos/harness/proctree"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
)

// timeoutBaseline is the timeout gate's "goroutines back to baseline"
// (Go targets, where a failing count shows the goroutines' stacks). The
// count-based "threads back to baseline" is gone: the forensic checks
// (timeout_forensics.go) judge every target by what its threads wait on.
var timeoutBaseline = declarePerMetric("timeout", "baseline", "%s back to baseline", []string{probe.Goroutines},
	func(string) string { return unitCount }, "%s return to their count before the hangs once the operations time out").
	sometimes("where the target reports goroutines (Go targets)")

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
	// snap is the forensic snapshot of the target's tree before the hangs
	// (nil when it cannot be taken): failing checks name what grew.
	snap *forensics.Snap
}

func (s *S) baseline(ctx context.Context) (baselineValues, error) {
	smp, err := s.settledSample(ctx)
	if err != nil {
		return baselineValues{}, err
	}
	b := baselineValues{sample: smp}
	if d, ok := s.Target.(target.StackDumper); ok {
		if b.stacks, err = d.GoroutineStacks(); err != nil {
			s.Logf("goroutine stacks at the baseline: %v", err)
		}
	}
	b.procs, b.procsWhy = s.processes()
	b.snap, _ = s.snapshot(ctx)
	return b, nil
}

// processes lists the target's processes but its root by pid (nil and the
// reason when the target cannot list them).
func (s *S) processes() (map[int]proctree.Proc, string) {
	pl, ok := s.Target.(target.ProcessLister)
	if !ok {
		return nil, s.Target.Describe() + " cannot list its processes"
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
	if base.procs == nil {
		s.rec.Skip(timeoutNoChild, "the target's processes are unknown: "+base.procsWhy)
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
		s.rec.Error(timeoutNoChild, fmt.Errorf("listing the target's processes: %s", why))
		return
	}
	scope := s.Target.(target.ProcessLister).ProcessScope()
	explain := fmt.Sprintf("processes of the target (%s) that were not there before the hangs, polled for %v after timeout + grace; %d there before", scope, grace, len(base.procs))
	if len(left) > 0 {
		explain = fmt.Sprintf("still there %v after timeout + grace: %s; ", grace, joinIDs(left)) + explain
	}
	s.rec.EQ(timeoutNoChild, float64(len(left)), 0, explain)
	if len(left) > 0 {
		now, _ := s.snapshot(ctx)
		s.rec.withObjects(timeoutNoChild, treeDiffObjects(base.snap, now, s.scopes.ids(), "proc"), topObjects)
	}
}

// leakedStacks renders the target's goroutines that are more now than at
// the baseline, grouped by stack ("" when the target cannot list them).
func (s *S) leakedStacks(base baselineValues) string {
	d, ok := s.Target.(target.StackDumper)
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

// lingerChecks: operations in flight back to 0, goroutines (where the
// target reports them) back to the baseline, no thread blocked on and no
// connection left open to a git host, no child left, disk use back to
// diskBase.
func (s *S) lingerChecks(ctx context.Context, base baselineValues, diskBase float64, diskKnown bool, grace time.Duration) {
	out, inflightKnown := s.statsZero(ctx, grace, target.StatInFlight)
	if inflightKnown {
		s.rec.True(timeoutNoInflight, out.OK, out.Describe(), "in_flight == 0", fmt.Sprintf("read from the stats endpoint for %v after timeout + grace", grace))
	} else {
		s.rec.Skip(timeoutNoInflight, "the target's stats have no in_flight key")
	}
	smp, err := s.settledSample(ctx)
	if err != nil {
		s.rec.Error(timeoutBaseline.of(probe.Goroutines), err)
		return
	}
	metric := probe.Goroutines
	b, okb := base.sample.Get(metric)
	v, okv := smp.Get(metric)
	if okb && okv {
		slack := 2.0
		explain := fmt.Sprintf("baseline %g before the hangs (+%g slack), %g after timeout + grace", b, slack, v)
		if v > b+slack {
			explain += s.leakedStacks(base)
		}
		s.rec.LE(timeoutBaseline.of(metric), v, b+slack, explain)
	}
	s.gitLinger(ctx, base.snap, grace)
	s.childCheck(ctx, base, grace)
	if diskKnown {
		o := eventually.Poll(ctx, grace, 20*time.Millisecond, func(ctx context.Context) (bool, string, error) {
			d, _ := s.DirBytes()
			return d <= diskBase, result.FormatValue(d, unitBytes), nil
		})
		d, _ := s.DirBytes()
		if !s.rec.LE(timeoutPartialRemoved, d-diskBase, 0, fmt.Sprintf("disk under %s: %s before the stalled clone, %s after timeout + grace (%s)", strings.Join(s.watchedDirs(), " and "), result.FormatValue(diskBase, unitBytes), result.FormatValue(d, unitBytes), o.Observed)) {
			now, _ := s.snapshot(ctx)
			s.rec.withObjects(timeoutPartialRemoved, treeDiffObjects(base.snap, now, s.scopes.ids(), "file"), topObjects)
		}
	} else {
		s.rec.Skip(timeoutPartialRemoved, "target's base dir unknown and no --target-watch-dir given")
	}
}
