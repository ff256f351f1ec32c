package gates

import (
	"context"
	"fmt"
	"time"

	"github.com/gitchaos/gitchaos/harness/eventually"
	"github.com/gitchaos/gitchaos/harness/forensics"
	"github.com/gitchaos/gitchaos/harness/metric"
	"github.com/gitchaos/gitchaos/harness/result"
)

// The checks that decide without statistics where objects have an
// identity: nothing of a deleted scope is still held (attrib.go says
// what belongs to a deleted scope).
var (
	churnNothingHeld = declare("churn", "nothing-held", "nothing of a deleted scope is still held", unitCount,
		"after each cycle's deletes no fd, mapping, child cwd or file of a deleted scope's clone is held (decided at the first cycle something is, no statistics)")
	deleteHangNothingHeld = declare("delete-hang", "nothing-held", "nothing of a deleted scope is still held", unitCount,
		"once the hang ends, no fd, mapping, child cwd or file of a scope deleted during it is held")
)

// heldWait is how long a quiet point waits for a deleted scope's objects
// to be let go of (a target that closes its repositories asynchronously).
const heldWait = 2 * time.Second

// topObjects is how many groups an explanation names.
const topObjects = 6

// heldWatch judges "nothing of a deleted scope is still held" at each
// quiet point of a gate (every churn cycle after its deletes), decided at
// the first point something is held (result gives the check).
type heldWatch struct {
	points  int          // quiet points judged
	clones  int          // clones learned by the last point
	skip    string       // why nothing could be judged at the last point
	decided bool         // something was held: the check failed
	failed  result.Check // the failure, as recorded

	// base is the tree at the first point after warm-up (for the flat
	// checks' diff), last the tree at the last point.
	base, last     *forensics.Snap
	baseAt, lastAt int

	// byKind is, per object kind, the held objects at the point where
	// most of that kind were held, and where that was: what decides a
	// flat check of a metric with identity (decideByIdentity).
	byKind map[string][]heldObject
	kindAt map[string]string
	// procRSS is the RSS of the held processes in byKind["proc"].
	procRSS uint64
}

// note keeps, per kind, the largest set of held objects seen in snap.
func (h *heldWatch) note(held []heldObject, snap *forensics.Snap, where string) {
	if h.byKind == nil {
		h.byKind, h.kindAt = map[string][]heldObject{}, map[string]string{}
	}
	per := map[string][]heldObject{}
	for _, o := range held {
		per[o.obj.Kind] = append(per[o.obj.Kind], o)
	}
	for k, os := range per {
		if len(os) > len(h.byKind[k]) {
			h.byKind[k], h.kindAt[k] = os, where
			if k == "proc" {
				var pids []int
				for _, o := range os {
					pids = append(pids, o.obj.PID)
				}
				h.procRSS = procsRSS(snap, pids)
			}
		}
	}
}

// identityKinds are the kinds whose held objects decide a flat check of
// their metric: objects of a deleted scope still held are a leak, whatever
// the slope of the count says.
var identityKinds = map[string]string{metric.FDs: "fd", metric.Threads: "thread", metric.Processes: "proc"}

// decideByIdentity turns each flat check of a metric with identity
// (fds, threads, processes) that did not fail into a failure when objects
// of that kind belonging to deleted scopes were held at a quiet point: a
// count that follows a garbage collector (a sawtooth) cannot decide, the
// objects' identity does. Anonymous memory and disk keep their slope
// verdicts; a check that failed stays failed.
func (h *heldWatch) decideByIdentity(s *S, flat perMetric) {
	for m, kind := range identityKinds {
		c := flat.of(m)
		held := h.byKind[kind]
		if c == nil || len(held) == 0 || s.rec.failed(c) || !s.rec.has(c) {
			continue
		}
		s.rec.decide(c, result.Fail, fmt.Sprintf("decided by identity: %d %s of deleted scopes still held at %s (the slope alone: ", len(held), m, h.kindAt[kind]), ")")
		s.rec.withObjects(c, heldGroups(held), topObjects)
	}
	procs := h.byKind["proc"]
	decideRSSByIdentity(s, flat, h.procRSS, len(procs), "processes of deleted scopes still held at "+h.kindAt["proc"], heldGroups(procs))
}

func newHeldWatch() *heldWatch { return &heldWatch{} }

// at judges the quiet point named where (e.g. "cycle 3"); i counts the
// points from 0.
func (h *heldWatch) at(ctx context.Context, s *S, i int, where string) {
	if h.decided { // one snapshot for the flat checks' diff and identity
		if snap, _ := s.snapshot(ctx); snap != nil {
			h.keep(snap, i)
			h.note(s.scopes.held(snap, s.busyHosts(ctx)), snap, where)
		}
		return
	}
	snap, held, why := s.heldNow(ctx, heldWait)
	if snap != nil {
		h.keep(snap, i)
	}
	if why != "" {
		h.skip = why
		return
	}
	h.skip = ""
	h.points++
	h.clones = s.scopes.cloneCount()
	h.note(held, snap, where)
	if len(held) == 0 {
		return
	}
	h.decided = true
	h.failed = result.Check{Measured: result.FormatValue(float64(len(held)), unitCount), Budget: "<= 0", Value: float64(len(held)), Unit: unitCount, Verdict: result.Fail,
		Explanation: fmt.Sprintf("%s: %d objects of deleted scopes still held %v after the deletes (%d clones learned; %s)", where, len(held), heldWait, h.clones, snapWhat(snap)),
		Objects:     heldGroups(held)}
	h.failed.Explanation += objectsText(h.failed.Objects, topObjects)
}

// keep keeps snap, taken at point i, as the last (and, the first after
// churn's 3 warm-up cycles, as the base) of the flat checks' diff.
func (h *heldWatch) keep(snap *forensics.Snap, i int) {
	if h.base == nil && i >= 3 {
		h.base, h.baseAt = snap, i
	}
	h.last, h.lastAt = snap, i
}

// result is the check "nothing of a deleted scope is still held" as
// judged: failed at the first point something was held, naming the
// objects; passed after the last point otherwise; skipped when the
// target's tree or its clones could not be seen. The gate records it
// (s.rec.Add) under its own declared check.
func (h *heldWatch) result() result.Check {
	switch {
	case h.decided:
		return h.failed
	case h.points == 0:
		return result.Check{Measured: "n/a", Budget: "n/a", Verdict: result.Skip, Explanation: orDefault(h.skip, "no quiet point reached")}
	}
	return result.Check{Measured: result.FormatValue(0, unitCount), Budget: "<= 0", Unit: unitCount, Verdict: result.Pass,
		Explanation: fmt.Sprintf("nothing of a deleted scope held at any of %d quiet points (fds, mappings, child cwds, files under %d clones learned, sockets to git hosts no live scope uses)", h.points, h.clones)}
}

// annotate adds the top growing groups of the tree (from the first point
// after warm-up to the last) to each failing check of flat whose metric
// has objects with an identity.
func (h *heldWatch) annotate(s *S, flat perMetric) {
	if h.base == nil || h.last == nil || h.last == h.base {
		return
	}
	d := forensics.Compare(h.base, h.last, h.lastAt-h.baseAt, s.scopes.ids()...)
	for m, c := range flat {
		kinds := kindsOf(m)
		if len(kinds) == 0 || !s.rec.failed(c) {
			continue
		}
		var objs []result.Object
		for _, o := range diffObjects(d, len(d.Groups)) {
			if kinds[o.Kind] {
				objs = append(objs, o)
			}
		}
		s.rec.withObjects(c, objs, topObjects)
	}
}

// kindsOf are the object kinds a leak metric counts (none for anonymous
// memory and counts without identity).
func kindsOf(m string) map[string]bool {
	switch m {
	case metric.FDs:
		return map[string]bool{"fd": true}
	case metric.Threads:
		return map[string]bool{"thread": true}
	case metric.Processes:
		return map[string]bool{"proc": true}
	case metric.Disk, metric.DiskFiles:
		return map[string]bool{"file": true, "dir": true}
	}
	return nil
}

// heldNow polls the target's tree for up to wait until nothing of a
// deleted scope is held; it returns the last snapshot and what was held
// (why: the reason nothing can be judged).
func (s *S) heldNow(ctx context.Context, wait time.Duration) (*forensics.Snap, []heldObject, string) {
	var snap *forensics.Snap
	var held []heldObject
	why := ""
	eventually.Poll(ctx, wait, 100*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		snap, why = s.snapshot(ctx)
		if snap == nil {
			return true, why, nil
		}
		if s.scopes.cloneCount() == 0 {
			why = fmt.Sprintf("no clone of a served scope found under %s (matched by the repo's commits in refs)", joinIDs(s.forensicDirs()))
			return true, why, nil
		}
		held = s.scopes.held(snap, s.busyHosts(ctx))
		return len(held) == 0, fmt.Sprintf("%d held", len(held)), nil
	})
	return snap, held, why
}

// snapWhat says what a snapshot covered, for explanations.
func snapWhat(snap *forensics.Snap) string {
	if snap == nil {
		return "no snapshot"
	}
	s := fmt.Sprintf("snapshot of pid %d and %d descendants in %v", snap.Root, len(snap.Procs)-1, snap.Took.Round(time.Millisecond))
	if n := len(snap.Unreadable); n > 0 {
		s += fmt.Sprintf(", %d parts unreadable (e.g. %s)", n, snap.Unreadable[0])
	}
	return s
}

// cloneCount is the number of clones learned.
func (ss *scopeSet) cloneCount() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.clones)
}

// has reports whether c was recorded.
func (r *recorder) has(c *Check) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.res.Checks {
		if r.res.Checks[i].ID == c.ID {
			return true
		}
	}
	return false
}

// decide sets the verdict of the last record of c, wrapping its
// explanation in prefix and suffix.
func (r *recorder) decide(c *Check, v result.Verdict, prefix, suffix string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.res.Checks) - 1; i >= 0; i-- {
		if rc := &r.res.Checks[i]; rc.ID == c.ID {
			rc.Verdict = v
			rc.Explanation = prefix + rc.Explanation + suffix
			return
		}
	}
}

// failed reports whether the last record of c failed.
func (r *recorder) failed(c *Check) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.res.Checks) - 1; i >= 0; i-- {
		if r.res.Checks[i].ID == c.ID {
			return r.res.Checks[i].Verdict == result.Fail
		}
	}
	return false
}
