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
// drip runs beside the hung clones).
func dripFor(T time.Duration) time.Duration { return T*3/2 + 500*time.Millisecond }

// dripBytes is the size of the drip's pack: dripRate × dripFor(T).
func dripBytes(T time.Duration) int64 { return int64(dripRate * dripFor(T).Seconds()) }

// dripRun is the drip: its repos, scopes and pack size; wait judges it.
type dripRun struct {
	h                *testbed.Host
	T                time.Duration
	size             int64
	cloneRepo        Repo
	fetchRepo        Repo
	cloneID, fetchID string
	done             chan struct{}
	err              error
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
		var wg sync.WaitGroup
		judge := func(c *Check, r Repo, what string) {
			defer wg.Done()
			// Watched as long as a hung operation, plus the drip's length
			// for a target that queues it behind other syncs.
			durs, open := s.watchOps(ctx, d.h, []string{r.Name}, watchWindow(d.T)+dripFor(d.T))
			s.judgeDrip(c, durs, open, d.T, fmt.Sprintf("%s of %s, whose pack (%s) the git server sends at %d B/s: %v of trickle, past the budget",
				what, r.Name, result.FormatValue(float64(d.size), unitBytes), dripRate, dripFor(d.T)))
		}
		wg.Add(2)
		go judge(timeoutDripClone, d.cloneRepo, "clone")
		go judge(timeoutDripFetch, d.fetchRepo, "fetch (after a push)")
		wg.Wait()
	}()
	return nil
}

// wait waits until the drip is judged.
func (d *dripRun) wait() { <-d.done }

// judgeDrip records c: the longest git request of the drip's operation
// (timed by the git server) against timeout × 1.1 + 100 ms, the
// hung-ops-end budget.
func (s *S) judgeDrip(c *Check, durs []time.Duration, open []string, T time.Duration, what string) {
	limit := time.Duration(float64(T)*1.1) + 100*time.Millisecond
	explain := fmt.Sprintf("%s; timeout %v, budget timeout×1.1+100ms as for a stall", what, T)
	switch {
	case len(open) > 0:
		s.rec.LE(c, watchWindow(T).Seconds(), limit.Seconds(),
			fmt.Sprintf("still running when watched for %v (%s); ", watchWindow(T), strings.Join(open, ", "))+explain)
	case len(durs) == 0:
		s.rec.True(c, false, "0 operations", "<= "+limit.String(), "the operation never reached the git server: "+explain)
	default:
		s.rec.LE(c, sortedMax(durs).Seconds(), limit.Seconds(), fmt.Sprintf("the git server served it for %v; ", sortedMax(durs).Round(time.Millisecond))+explain)
	}
}
