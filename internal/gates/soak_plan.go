// The soak's plan: step kinds, their weights and the seeded sequence of
// steps.

package gates

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

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
	{stepPutNew, 54}, {stepPutShared, 24}, {stepDelete, 48}, {stepDeleteSharer, 12}, {stepRefreshOne, 30}, {stepRefreshAll, 12},
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
