// The soak's quiet points: every window ends with faults recovered and
// connections closed, then caches, clone dirs and served scopes are
// checked and one settled sample is taken.

package gates

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gitchaos/gitchaos/harness/eventually"
	"github.com/gitchaos/gitchaos/harness/probe"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
)

// quietPoint ends window w: every fault off, extra scopes deleted, caches
// back to the baseline, the baseline scopes served, one settled sample.
func (k *soak) quietPoint(ctx context.Context, w int) {
	k.rec.Mark(result.MarkerPhase, fmt.Sprintf("quiet point %d", w))
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	if err := k.S.faults.recoverAll(rctx); err != nil {
		k.stepErr(ctx, soakStep{N: -1, Kind: "recover all"}, err)
	}
	cancel()
	k.faults = nil
	qctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	k.learnExtras()
	for _, e := range k.extras {
		err := k.Client.DeleteScope(qctx, e.id)
		if err == nil || target.IsStatus(err, http.StatusNotFound) {
			k.scopes.deleted(e.id)
		} else {
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
	k.checkHeld(qctx, w)
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
	k.scopes.verifyContent(qctx) // after the sample: its clones and connections are gone by the next one
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
	for _, h := range k.Testbed.Hosts() {
		if h.Admin != nil && h.Admin.HTTP != nil {
			h.Admin.HTTP.CloseIdleConnections()
		}
	}
	if k.Target.InProcess() {
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
	if _, out := k.scopes.Served(ctx, k.baseIDs, k.baseWant, 30*time.Second); !out.OK && ctx.Err() == nil {
		k.unserved++
		if k.unservedWhy == "" {
			k.unservedWhy = fmt.Sprintf("quiet point %d: %s", w, out.Describe())
		}
	}
}

// checkHeld judges "nothing of a deleted scope is still held" at quiet
// point w: the clones of every pool repo are learned first (a deleted
// scope's clone left on disk is found by its content, whatever the
// target's layout), then the target's tree is searched for what belongs
// to a scope no live scope shares a repo with.
func (k *soak) checkHeld(ctx context.Context, w int) {
	k.held.at(ctx, k.S, w, fmt.Sprintf("quiet point %d", w))
}

// learnExtras learns the clones of the live extra scopes before the
// quiet point deletes them (deleteExtra learns a scope's clone before
// its delete step): a clone is found by its content, so only while it
// is on disk, and a target that purges the dir but keeps its files open
// holds them under a path learned before.
func (k *soak) learnExtras() {
	var repos []Repo
	for _, e := range k.extras {
		repos = append(repos, *e.repo)
	}
	if len(repos) > 0 {
		k.scopes.learnClones(repos)
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
	k.rec.Mark(result.MarkerPhase, "restart")
	err := k.Target.Restart(qctx, false)
	if errors.Is(err, target.ErrUnsupported) {
		k.restartLog = append(k.restartLog, "restart unsupported by "+k.Target.Describe()+": skipped")
		return
	}
	if err != nil {
		k.stepErr(ctx, soakStep{N: -1, Kind: stepRestart}, err)
		return
	}
	k.restarts++
	if _, out := k.scopes.Served(qctx, k.baseIDs, k.baseWant, 60*time.Second); !out.OK {
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
	k.rec.Mark(result.MarkerPhase, line)
}

// sampleTimeline samples the target every interval until ctx ends.
func (k *soak) sampleTimeline(ctx context.Context) {
	t := time.NewTicker(k.o.SampleInterval)
	defer t.Stop()
	for {
		k.quietMu.Lock()
		src := k.Target.Probe()
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
