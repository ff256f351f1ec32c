package gates

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/fixtures/repogen"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/testbed"
)

// The timeout gate's slow drip: a clone and a fetch whose pack trickles
// at dripRate, a steady rate just above the low-speed limits servers set
// (git's http.lowSpeedLimit is commonly 1000 B/s), for longer than the
// budget. Every other hang of the gate is a stall, which an inactivity or
// low-speed abort also ends; only a deadline on the whole operation ends
// a drip.
var (
	timeoutDripClone = declare("timeout", "drip-clone-ends", "a clone whose pack trickles ends within timeout×1.1+100ms", unitSeconds,
		"a clone whose pack trickles at 2 KiB/s (above common low-speed limits) ends at the git timeout like a stall: the timeout is a deadline on the whole operation, not an inactivity or low-speed abort")
	timeoutDripFetch = declare("timeout", "drip-fetch-ends", "a fetch whose pack trickles ends within timeout×1.1+100ms", unitSeconds,
		"a fetch whose pack trickles at 2 KiB/s (above common low-speed limits) ends at the git timeout like a stall: the timeout is a deadline on the whole operation, not an inactivity or low-speed abort")
)

// dripRate is the drip's rate in bytes per second: twice git's common
// http.lowSpeedLimit (1000 B/s), so a low-speed abort never fires.
const dripRate = 2048

// dripFor is how long the drip's pack lasts, timeout T: just past the
// budget (T×1.1+100ms) by 0.4×T+0.4s, so an operation that runs to its
// end is told apart from one that ended at its timeout, and one that runs
// to its end costs the gate about a second more than a correct one (the
// drip runs beside the healthy scope and the hung fetches).
func dripFor(T time.Duration) time.Duration { return T*3/2 + 500*time.Millisecond }

// dripBytes is the size of the drip's pack: dripRate × dripFor(T).
func dripBytes(T time.Duration) int64 { return int64(dripRate * dripFor(T).Seconds()) }

// dripRun is the drip: its host, repos, scopes and pack size.
type dripRun struct {
	h                *testbed.Host
	T                time.Duration
	size             int64
	cloneRepo        Repo
	fetchRepo        Repo
	cloneID, fetchID string
	done             chan struct{} // closed once both checks are recorded
}

// prepareDrip creates the drip's two repos on h (repo indices first and
// first+1, scopes scope and scope+1): the fetch's scope is cloned at full
// speed, a commit carrying dripBytes(T) of incompressible text is pushed,
// and the git server is told to serve both repos' packs at dripRate.
// It runs before the hung clones, so that a target whose syncs queue
// (FIFO) starts the drip first.
func (s *S) prepareDrip(ctx context.Context, h *testbed.Host, first, scope int, T time.Duration) (*dripRun, error) {
	d := &dripRun{h: h, T: T, size: dripBytes(T), cloneID: s.scopes.ID(scope), fetchID: s.scopes.ID(scope + 1), done: make(chan struct{})}
	rs, err := s.scopes.CreateRepos(ctx, h, first, 1, repogen.Spec{RegoFiles: 1, DataBytes: 64, Commits: 1, PackBytes: d.size})
	if err != nil {
		return nil, err
	}
	d.cloneRepo = rs[0]
	if rs, err = s.scopes.CreateRepos(ctx, h, first+1, 1, repogen.Spec{RegoFiles: 1, DataBytes: 64, Commits: 1}); err != nil {
		return nil, err
	}
	d.fetchRepo = rs[0]
	if err := s.scopes.Put(ctx, []string{d.fetchID}, []string{d.fetchRepo.URL()}); err != nil {
		return nil, err
	}
	if _, out := s.scopes.Ready(ctx, []string{d.fetchID}, map[string]string{d.fetchID: d.fetchRepo.Head}); !out.OK {
		return nil, fmt.Errorf("drip: the scope whose fetch is to trickle never served its first clone: %s", out.Describe())
	}
	// Random bytes in base64 deflate to about 3/4 of the text: the new
	// pack is about size bytes.
	pad := make([]byte, d.size)
	r := rand.New(rand.NewPCG(s.Rand.Uint64(), 0))
	for i := range pad {
		pad[i] = byte(r.Uint32())
	}
	seed := s.Rand.Int64()
	info, err := h.Admin.Commit(ctx, d.fetchRepo.Name, gitserver.CommitRequest{Seed: seed,
		Files:   map[string]string{"drip/padding.b64": base64.StdEncoding.EncodeToString(pad)},
		Message: fmt.Sprintf("gitchaos drip commit %d", seed)})
	if err != nil {
		return nil, fmt.Errorf("push the drip commit to %s/%s: %w", h.Name, d.fetchRepo.Name, err)
	}
	d.fetchRepo.Head = info.Head
	slow := fault(fmt.Sprintf("slow:bytes_per_sec=%d", dripRate))
	for _, r := range []Repo{d.cloneRepo, d.fetchRepo} {
		if _, err := s.faults.Inject(ctx, h, r.Name, slow); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// start puts the clone's scope and refreshes the fetch's scope, then
// watches both operations in the background (the git server times each).
func (d *dripRun) start(ctx context.Context, s *S) error {
	s.rec.Mark(result.MarkerPhase, "slow drip")
	if err := s.scopes.Put(ctx, []string{d.cloneID}, []string{d.cloneRepo.URL()}); err != nil {
		close(d.done)
		return err
	}
	if err := s.Client.Refresh(ctx, d.fetchID); err != nil {
		close(d.done)
		return fmt.Errorf("refresh %s: %w", d.fetchID, err)
	}
	go func() {
		defer close(d.done)
		var clone, fetch dripOutcome
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); clone = d.watch(ctx, s, d.cloneRepo, "clone") }()
		go func() { defer wg.Done(); fetch = d.watch(ctx, s, d.fetchRepo, "fetch (after a push)") }()
		wg.Wait()
		if clone.none {
			s.rec.True(timeoutDripClone, false, "0 operations", "<= "+clone.limit.String(), clone.explain)
		} else {
			s.rec.LE(timeoutDripClone, clone.value, clone.limit.Seconds(), clone.explain)
		}
		if fetch.none {
			s.rec.True(timeoutDripFetch, false, "0 operations", "<= "+fetch.limit.String(), fetch.explain)
		} else {
			s.rec.LE(timeoutDripFetch, fetch.value, fetch.limit.Seconds(), fetch.explain)
		}
	}()
	return nil
}

// wait waits until the drip is judged.
func (d *dripRun) wait() { <-d.done }

// dripOutcome is one drip operation as the git server saw it: its
// longest git request (or the watch window when one never ended) against
// timeout × 1.1 + 100 ms, the hung-ops-end budget; none when no request
// reached the server.
type dripOutcome struct {
	value   float64
	limit   time.Duration
	none    bool
	explain string
}

// watch times the drip's operation on r (watched as long as a hung
// operation, plus the drip's length for a target that queues it behind
// other syncs).
func (d *dripRun) watch(ctx context.Context, s *S, r Repo, what string) dripOutcome {
	T := d.T
	window := watchWindow(T) + dripFor(T)
	durs, open := s.watchOps(ctx, d.h, []string{r.Name}, window)
	o := dripOutcome{limit: time.Duration(float64(T)*1.1) + 100*time.Millisecond}
	o.explain = fmt.Sprintf("%s of %s, whose pack (%s) the git server sends at %d B/s: %v of trickle, past the budget; timeout %v, budget timeout×1.1+100ms as for a stall",
		what, r.Name, result.FormatValue(float64(d.size), unitBytes), dripRate, dripFor(T), T)
	switch {
	case len(open) > 0:
		o.value = window.Seconds()
		o.explain = fmt.Sprintf("still running when watched for %v (%s); ", window, strings.Join(open, ", ")) + o.explain
	case len(durs) == 0:
		o.none = true
		o.explain = "the operation never reached the git server: " + o.explain
	default:
		o.value = sortedMax(durs).Seconds()
		o.explain = fmt.Sprintf("the git server served it for %v; ", sortedMax(durs).Round(time.Millisecond)) + o.explain
	}
	return o
}
