package gates

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/gitchaos/gitchaos/harness/forensics"
	"github.com/gitchaos/gitchaos/harness/metric"
	"github.com/gitchaos/gitchaos/harness/result"
)

// keptWarmup is the number of quiet points before a keptWatch's first
// judged one (the leak judge's warm-up).
const keptWarmup = 3

// keptStairs is how many rounds in a row a group of file descriptors must
// grow, every one of them, to be decided a leak.
const keptStairs = 5

// keptWatch decides the flat checks of metrics with identity in a gate
// that deletes nothing (repeat-sync): at each quiet point (a round with
// nothing in flight) it snapshots the target's tree, and
//   - a descendant process started after the first judged point and
//     still there at a quiet point, a second old at least, is kept:
//     nothing runs that needs it (a `git cat-file --batch` of a repository
//     object never closed); its threads are kept with it;
//   - a group of file descriptors (one signature) that grew at each of the
//     last keptStairs rounds is a staircase: a descriptor per round kept
//     open (the packs each fetch adds, held by a cached repository).
//
// A flat check of fds, threads or processes that did not fail becomes a
// failure when such objects were found, naming them.
type keptWatch struct {
	first    *forensics.Snap
	groups   []map[string]int    // file fd groups per judged point
	examples map[string]string   // an example per file fd group
	kept     map[string][]string // kind -> kept objects at the point with most
	keptAt   map[string]string
	keptRSS  uint64 // the kept processes' RSS at the point with most of them
}

// at takes the quiet point i's snapshot.
func (k *keptWatch) at(ctx context.Context, s *S, i int, where string) {
	if i < keptWarmup {
		return
	}
	snap, _ := s.snapshot(ctx)
	if snap == nil {
		return
	}
	if k.first == nil {
		k.first, k.examples = snap, map[string]string{}
	}
	g := map[string]int{}
	for _, o := range forensics.Objects(snap, s.scopes.ids()...) {
		if o.Kind == "fd" && o.Path != "" {
			g[o.Signature]++
			if _, ok := k.examples[o.Signature]; !ok {
				k.examples[o.Signature] = o.Example
			}
		}
	}
	k.groups = append(k.groups, g)
	kept := keptProcs(k.first, snap)
	if len(kept["proc"]) > len(k.kept["proc"]) {
		k.keptRSS = procsRSS(snap, keptPIDs(k.first, snap))
	}
	k.note(kept, where)
}

// keptPIDs are the pids keptProcs lists.
func keptPIDs(first, now *forensics.Snap) []int {
	var out []int
	for _, p := range now.Procs {
		if p.PID != now.Root && p.Start.After(first.Taken) && p.AgeSeconds >= keptAge {
			out = append(out, p.PID)
		}
	}
	return out
}

// procsRSS is the summed RSS of pids in snap.
func procsRSS(snap *forensics.Snap, pids []int) uint64 {
	var rss uint64
	for _, p := range snap.Procs {
		if p.Memory != nil && slices.Contains(pids, p.PID) {
			rss += p.Memory.Rss
		}
	}
	return rss
}

// keptProcs lists, as "proc" and "thread" objects in words, the
// descendants in now (a quiet point: nothing in flight) started after
// first and at least keptAge old: nothing running needs them. A correct
// server's git commands end with their operation; a `git cat-file
// --batch` of a repository object never closed waits on its stdin until
// a garbage collector closes it.
func keptProcs(first, now *forensics.Snap) map[string][]string {
	out := map[string][]string{}
	for _, p := range now.Procs {
		if !slices.Contains(keptPIDs(first, now), p.PID) {
			continue
		}
		what := fmt.Sprintf("pid %d ppid %d %s %q cwd %s, age %.0f s", p.PID, p.PPID, p.State, forensics.Shorten(strings.Join(p.Cmdline, " "), 80), p.Cwd, p.AgeSeconds)
		out["proc"] = append(out["proc"], what)
		for _, t := range p.Threads {
			out["thread"] = append(out["thread"], fmt.Sprintf("tid %d %q %s of %s", t.TID, t.Name, t.Class, what))
		}
	}
	return out
}

// keptAge is how old a descendant at a quiet point must be to count as
// kept (not one that is just starting).
const keptAge = 1.0

// note keeps, per kind, the largest set of kept objects seen.
func (k *keptWatch) note(kept map[string][]string, where string) {
	if k.kept == nil {
		k.kept, k.keptAt = map[string][]string{}, map[string]string{}
	}
	for kind, objs := range kept {
		if len(objs) > len(k.kept[kind]) {
			k.kept[kind], k.keptAt[kind] = objs, where
		}
	}
}

// stairs lists the file fd groups that grew at each of the last
// keptStairs points, with their counts.
func (k *keptWatch) stairs() []string {
	n := len(k.groups)
	if n <= keptStairs {
		return nil
	}
	var out []string
	for sig, last := range k.groups[n-1] {
		up := true
		for j := n - keptStairs; j < n && up; j++ {
			up = k.groups[j][sig] > k.groups[j-1][sig]
		}
		if up {
			out = append(out, fmt.Sprintf("%s: %d → %d over the last %d rounds, e.g. %s", sig, k.groups[n-keptStairs-1][sig], last, keptStairs, forensics.Shorten(k.examples[sig], 160)))
		}
	}
	return out
}

// decide turns each flat check of fds, threads or processes that did not
// fail into a failure when kept objects of its kind were found.
func (k *keptWatch) decide(s *S, flat perMetric, per string) {
	found := map[string][]string{"fd": k.stairs(), "proc": k.kept["proc"], "thread": k.kept["thread"]}
	for m, kind := range identityKinds {
		c := flat.of(m)
		objs := found[kind]
		if c == nil || len(objs) == 0 || s.rec.failed(c) || !s.rec.has(c) {
			continue
		}
		why := fmt.Sprintf("decided by identity: %d %s of the tree started during the judged %ss still there at a quiet point (%s), nothing in flight", len(objs), m, per, k.keptAt[kind])
		if kind == "fd" {
			why = fmt.Sprintf("decided by identity: %d groups of file descriptors grew at every one of the last %d %ss", len(objs), keptStairs, per)
		}
		s.rec.decide(c, result.Fail, why+" (the slope alone: ", ")")
		s.rec.withObjects(c, keptObjects(kind, objs), topObjects)
	}
	decideRSSByIdentity(s, flat, k.keptRSS, len(k.kept["proc"]), "processes started during the judged "+per+"s still there at "+k.keptAt["proc"]+", nothing in flight", keptObjects("proc", k.kept["proc"]))
}

// decideRSSByIdentity turns the RSS flat check of flat, when it did not
// fail, into a failure when procs processes that should be gone (kept, or
// held by deleted scopes: what) held rss bytes of resident memory at a
// quiet point: that memory is the tree's growth whatever its slope says
// (a young interpreter's RSS, a garbage collector's sawtooth). Memory
// without an owner keeps its slope verdict.
func decideRSSByIdentity(s *S, flat perMetric, rss uint64, procs int, what string, objs []result.Object) {
	c := flat.of(metric.RSS)
	if c == nil || procs == 0 || rss == 0 || s.rec.failed(c) || !s.rec.has(c) {
		return
	}
	why := fmt.Sprintf("decided by identity: %s RSS held by %d %s (the slope alone: ", result.FormatValue(float64(rss), "bytes"), procs, what)
	s.rec.decide(c, result.Fail, why, ")")
	s.rec.withObjects(c, objs, topObjects)
}

// keptObjects groups kept objects in words by signature, largest first.
func keptObjects(kind string, objs []string) []result.Object {
	idx := map[string]int{}
	var out []result.Object
	for _, o := range objs {
		sig := forensics.Signature(o)
		if kind == "fd" {
			sig, _, _ = strings.Cut(o, ":")
		}
		if i, ok := idx[sig]; ok {
			out[i].Count++
			out[i].Growth++
			continue
		}
		idx[sig] = len(out)
		out = append(out, result.Object{Kind: kind, Signature: sig, Count: 1, Growth: 1, Example: o})
	}
	sortObjects(out)
	return out
}
