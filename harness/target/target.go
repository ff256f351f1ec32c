// Package target is what scenarios drive: a server speaking the
// OPAL-compatible scopes API, run in this process (any Server, through
// StartInProcess; the reference fetcher's factory is
// harness/fetcher/inprocess), as a process the harness starts itself
// (exec), or found at a URL (a real OPAL server). Each target says which
// settings it runs with, how to sample it and whether it can be restarted
// or killed. It does not import the reference fetcher: a user who gates
// their own server does not link it (nor go-git).
package target

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gitchaos/gitchaos/harness/probe"
	"github.com/gitchaos/gitchaos/harness/scopeapi"
)

// Settings are the fetcher settings budgets depend on. The harness hands
// them to exec targets through OPAL's environment variable names and to the
// in-process fetcher through its config; for a URL target the user states
// them.
type Settings struct {
	GitTimeout      time.Duration `json:"git_timeout" yaml:"git_timeout"`
	MaxWorkers      int           `json:"max_workers" yaml:"max_workers"`
	SyncConcurrency int           `json:"sync_concurrency" yaml:"sync_concurrency"`
	Shards          int           `json:"shards" yaml:"shards"`
}

// Validate reports what is wrong with the settings: the CLI, suite files
// and a Go test's options all call it before anything starts.
func (s Settings) Validate() error {
	var errs []error
	if s.GitTimeout <= 0 {
		errs = append(errs, fmt.Errorf("git timeout %v: must be > 0 for the gates", s.GitTimeout))
	}
	// The pool and shard limits are scopeapi's: the reference fetcher's
	// config holds to the same ones, so settings that pass here start it.
	errs = append(errs,
		scopeapi.CheckMaxWorkers(s.MaxWorkers),
		scopeapi.CheckSyncConcurrency(s.SyncConcurrency),
		scopeapi.CheckShards(s.Shards))
	return errors.Join(errs...)
}

// Env is the environment for these settings: every setting under OPAL's
// name (OPAL_SCOPES_GIT_FETCH_TIMEOUT, OPAL_SCOPES_GIT_MAX_WORKERS,
// OPAL_SCOPES_SYNC_CONCURRENCY, OPAL_SCOPES_REPO_CLONES_SHARDS: what an
// OPAL server reads) and under the bare name (SCOPES_GIT_FETCH_TIMEOUT,
// ...: what the reference fetcher reads).
func (s Settings) Env() []string {
	bare := []string{
		fmt.Sprintf("SCOPES_GIT_FETCH_TIMEOUT=%g", s.GitTimeout.Seconds()),
		fmt.Sprintf("SCOPES_GIT_MAX_WORKERS=%d", s.MaxWorkers),
		fmt.Sprintf("SCOPES_SYNC_CONCURRENCY=%d", s.SyncConcurrency),
		fmt.Sprintf("SCOPES_REPO_CLONES_SHARDS=%d", s.Shards),
	}
	out := make([]string, 0, 2*len(bare))
	for _, kv := range bare {
		out = append(out, "OPAL_"+kv)
	}
	return append(out, bare...)
}

// ParseEnv checks KEY=VALUE entries (as given to --target-env): each has
// a non-empty key without spaces or '='.
func ParseEnv(entries []string) error {
	for _, e := range entries {
		k, _, ok := strings.Cut(e, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t\n") {
			return fmt.Errorf("environment entry %q: want KEY=VALUE", e)
		}
	}
	return nil
}

// Target is a running server under test.
type Target interface {
	// Describe says what the target is, e.g. "in-process reffetcher (mutants: none)".
	Describe() string
	// Client talks to it.
	Client() *Client
	// Settings it runs with.
	Settings() Settings
	// Probe samples it (fds, RSS, goroutines, stats endpoint, disk...).
	Probe() probe.Source
	// BaseDir is its data dir on this machine ("" when unknown): clones
	// live in BaseDir/git_sources.
	BaseDir() string
	// InProcess reports whether goroutine and heap numbers are exact for
	// the target (it runs in this process).
	InProcess() bool
	// Restart stops the target (SIGKILL when kill is set and the target is
	// a process) and starts it again on the same base dir; ErrUnsupported
	// for targets the harness did not start.
	Restart(ctx context.Context, kill bool) error
	// Close stops the target and releases everything it holds.
	Close() error
}

// ErrUnsupported is returned by operations a target cannot do.
var ErrUnsupported = errors.New("target: not supported by this target")

// Factory makes a fresh target with the given settings for one scenario.
// cold asks for an empty base dir.
type Factory interface {
	// Describe says what targets it makes.
	Describe() string
	// New starts a target.
	New(ctx context.Context, s Settings) (Target, error)
	// Fresh reports whether every New gives a target with no state
	// (false for a URL target, which is the same server every time).
	Fresh() bool
}

// Mutated is a Factory whose targets run with historical bugs switched
// back on (the reference fetcher's mutants); the report names them.
type Mutated interface {
	MutantNames() []string
}

// LogKeeper is a target that keeps its process's stdout and stderr as
// files; the report lists them.
type LogKeeper interface {
	Logs() []string
}

// Killer is a process target the harness can SIGKILL and start again on
// the same base dir as two separate steps (the crash-restart gate changes
// the world between them).
type Killer interface {
	Target
	// Kill sends SIGKILL and waits for the process to exit.
	Kill(ctx context.Context) error
	// Start starts the process again and waits until it is healthy.
	Start(ctx context.Context) error
}

// StackDumper is a target whose own goroutines can be listed (in-process
// targets: those carrying its pprof label), so a failing goroutine check
// can show what is left.
type StackDumper interface {
	// GoroutineStacks maps each distinct stack of the target's goroutines
	// (one "func  file:line" per frame) to how many goroutines have it.
	GoroutineStacks() (map[string]int, error)
}

// StackDiff renders the stacks that have more goroutines in after than in
// before, most grown first, at most max groups.
func StackDiff(before, after map[string]int, max int) string {
	type group struct {
		stack string
		n     int
	}
	var gs []group
	total := 0
	for st, n := range after {
		if d := n - before[st]; d > 0 {
			gs = append(gs, group{st, d})
			total += d
		}
	}
	if len(gs) == 0 {
		return ""
	}
	sort.Slice(gs, func(i, j int) bool {
		if gs[i].n != gs[j].n {
			return gs[i].n > gs[j].n
		}
		return gs[i].stack < gs[j].stack
	})
	var b strings.Builder
	fmt.Fprintf(&b, "%d more goroutine(s) of the target in %d stack(s):", total, len(gs))
	for i, g := range gs {
		if i == max {
			fmt.Fprintf(&b, "\n(+%d more stacks)", len(gs)-max)
			break
		}
		fmt.Fprintf(&b, "\n\n%d x\n%s", g.n, g.stack)
	}
	return b.String()
}

// What each kind of target can do beyond Target. A scenario asks one way,
// a type assertion to one of the interfaces of this package
// (s.T.(target.Killer)); a check whose interface the target lacks is
// skipped with the reason. These lines keep the table true at compile time.
var (
	_ ColdStarter   = (*execTarget)(nil)
	_ ExitReporter  = (*execTarget)(nil)
	_ Killer        = (*execTarget)(nil)
	_ LogKeeper     = (*execTarget)(nil)
	_ ProcessLister = (*execTarget)(nil)
	_ DirWatcher    = (*execTarget)(nil)

	_ ColdStarter   = (*inProcess)(nil)
	_ StackDumper   = (*inProcess)(nil)
	_ ProcessLister = (*inProcess)(nil)

	_ ProcessLister = (*urlTarget)(nil)
	_ DirWatcher    = (*urlTarget)(nil)
)
