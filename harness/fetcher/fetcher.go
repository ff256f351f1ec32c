// Package fetcher is the reference scope fetcher: a Go model of the OPAL
// server's scope-based git policy fetcher with every upstream fix applied
// (and a per-host bulkhead and circuit breaker beyond them), serving the
// OPAL-compatible HTTP API. Each historical bug can be switched back on by
// name as a mutant.
//
// Layout: store.go persists scopes; source.go validates them and maps them
// onto sources (one clone per url and branch shard); sync.go runs a scope's
// sync (single flight, clone or fetch, head tracking) and sync-all;
// pool.go is the git worker pool with its per-host bulkhead and breaker;
// runner.go bounds each operation by its deadline; caches.go holds
// repo_locks, repos and repos_last_fetched; bundle.go builds policy bundles;
// api.go serves HTTP. The mutants' seams are in seams*.go (with pool.go and
// runner.go); mutants.go holds the one table of mutants: name, seam,
// upstream bug, the checks that must catch it and the strategy it swaps in.
//
// # Adding a mutant
//
//  1. The seam: a strategy type beside the correct one (seams*.go, or
//     pool.go / runner.go for the pool and the operation runner). The
//     correct code calls the seam and never tests a mutant's name.
//  2. mutants.go: a row of mutantTable (name, seam, upstream bug, what it
//     does, the declared check IDs that must fail, e.g.
//     chk("churn.fds-flat"), and the strategy it swaps in).
//  3. A unit test in this package showing the behaviour differs from the
//     correct fetcher (mutants_test.go).
//  4. docs/fetcher.md: the row of the mutant table.
//
// The matrix (gitchaos matrix, make test) runs the new row by itself.
// TestMutantTable fails on a row without checks, TestMutantsDocumented on
// a docs table that differs from mutantTable, and the gates'
// TestDeclaredChecksReferences on a must-fail ID that no gate declares.
package fetcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gitchaos/gitchaos/harness/scopeapi"
)

// NoTimeout as Config.GitTimeout runs clone and fetch without a deadline.
const NoTimeout time.Duration = -1

// Defaults of Config.
const (
	DefaultMaxWorkers       = 10
	DefaultGitTimeout       = 120 * time.Second
	DefaultSyncConcurrency  = 10
	DefaultShards           = 1
	DefaultBreakerThreshold = 3
	DefaultBreakerBackoff   = 5 * time.Second
	// DefaultObjectCacheBytes bounds go-git's object cache per open repository.
	DefaultObjectCacheBytes = 256 << 10
)

// Config configures a Fetcher. Zero values take the documented defaults.
type Config struct {
	BaseDir          string        // required; clones live in <BaseDir>/git_sources
	MaxWorkers       int           // git worker pool size (default 10)
	GitTimeout       time.Duration // per clone/fetch (default 120s; negative = none; use NoTimeout)
	SyncConcurrency  int           // scopes synced at once (default 10)
	Shards           int           // SCOPES_REPO_CLONES_SHARDS (default 1)
	HostCap          int           // concurrent git ops per host (default MaxWorkers/4, at least 1)
	BreakerThreshold int           // consecutive timeouts that open a host's breaker (default 3)
	BreakerBackoff   time.Duration // open breaker probes again after this (default 5s)
	PollInterval     time.Duration // 0 = no polling
	AllowFileURLs    bool          // allow file:// sources
	Token            string        // bearer token required on every route when set
	Mutants          []string      // historical bugs to switch back on, by name
	Logger           *slog.Logger  // nil: discard
	ObjectCacheBytes int64         // go-git object cache per open repo (default 256 KiB)
	MaxBodyBytes     int64         // request body limit (default 1 MiB)
	SSHKnownHosts    string        // known_hosts text for ssh sources ("": go-git's default files)
}

// withDefaults returns cfg with every zero value replaced by its default.
func (c Config) withDefaults() Config {
	if c.MaxWorkers == 0 {
		c.MaxWorkers = DefaultMaxWorkers
	}
	if c.GitTimeout == 0 {
		c.GitTimeout = DefaultGitTimeout
	}
	if c.SyncConcurrency == 0 {
		c.SyncConcurrency = DefaultSyncConcurrency
	}
	if c.Shards == 0 {
		c.Shards = DefaultShards
	}
	if c.HostCap == 0 {
		c.HostCap = max(1, c.MaxWorkers/4)
	}
	if c.BreakerThreshold == 0 {
		c.BreakerThreshold = DefaultBreakerThreshold
	}
	if c.BreakerBackoff == 0 {
		c.BreakerBackoff = DefaultBreakerBackoff
	}
	if c.ObjectCacheBytes == 0 {
		c.ObjectCacheBytes = DefaultObjectCacheBytes
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every problem with the config (after defaults).
func (c Config) Validate() error {
	var errs []error
	if c.BaseDir == "" {
		errs = append(errs, errors.New("base dir: required"))
	}
	// The pool and shard limits are the harness's too (scopeapi).
	errs = append(errs,
		scopeapi.CheckMaxWorkers(c.MaxWorkers),
		scopeapi.CheckSyncConcurrency(c.SyncConcurrency),
		scopeapi.CheckShards(c.Shards))
	if c.HostCap < 1 {
		errs = append(errs, fmt.Errorf("host cap %d: must be >= 1", c.HostCap))
	}
	if c.BreakerThreshold < 1 {
		errs = append(errs, fmt.Errorf("breaker threshold %d: must be >= 1", c.BreakerThreshold))
	}
	if c.BreakerBackoff < 0 {
		errs = append(errs, fmt.Errorf("breaker backoff %v: must be >= 0", c.BreakerBackoff))
	}
	if c.PollInterval < 0 {
		errs = append(errs, fmt.Errorf("poll interval %v: must be >= 0", c.PollInterval))
	}
	if c.ObjectCacheBytes < 0 {
		errs = append(errs, fmt.Errorf("object cache %d: must be >= 0", c.ObjectCacheBytes))
	}
	if _, err := buildStrategies(c.Mutants); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Fetcher is the reference fetcher.
type Fetcher struct {
	cfg   Config
	log   *slog.Logger
	strat strategies
	store *scopeStore

	rootCtx context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup // every goroutine the fetcher starts
	closed  atomic.Bool

	pool   gitPool
	runner opRunner
	caches *caches
	tasks  taskList

	mu      sync.Mutex             // guards scopes, sources
	scopes  map[string]*scopeState // by scope id
	sources map[string]*source     // by source id

	booted       atomic.Bool
	booting      atomic.Bool
	bgMu         sync.RWMutex // orders goBackground against Close
	inFlight     atomic.Int64 // git operations running now
	tasksRunning atomic.Int64 // refresh tasks not finished yet
	srcOpsMax    atomic.Int64 // most git operations ever running at once on one source
	bundles      bundleCache
	closeMu      sync.Mutex
}

// New validates cfg, loads persisted scopes and returns a fetcher; it does
// not boot (sync) them: call Boot.
func New(cfg Config) (*Fetcher, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("fetcher: config: %w", err)
	}
	strat, _ := buildStrategies(cfg.Mutants)
	if err := os.MkdirAll(filepath.Join(cfg.BaseDir, "git_sources"), 0o755); err != nil {
		return nil, fmt.Errorf("fetcher: base dir: %w", err)
	}
	// clones staged by a process that died mid-clone
	if err := os.RemoveAll(filepath.Join(cfg.BaseDir, stagingDirName)); err != nil {
		return nil, fmt.Errorf("fetcher: clear clone staging: %w", err)
	}
	store, err := openScopeStore(filepath.Join(cfg.BaseDir, "scopes"), cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("fetcher: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &Fetcher{
		cfg:     cfg,
		log:     cfg.Logger,
		strat:   strat,
		store:   store,
		rootCtx: ctx,
		cancel:  cancel,
		caches:  newCaches(),
		scopes:  map[string]*scopeState{},
		sources: map[string]*source{},
	}
	f.pool = strat.newPool(cfg)
	f.runner = strat.newRunner(f)
	f.tasks = strat.newTaskList()
	if len(strat.names) > 0 {
		f.log.Warn("mutants switched on", "mutants", strat.names)
	}
	loaded, err := store.loadAll()
	if err != nil {
		cancel()
		return nil, fmt.Errorf("fetcher: load scopes: %w", err)
	}
	for _, sc := range loaded {
		if _, err := f.addScopeLocked(sc); err != nil {
			f.log.Error("persisted scope skipped", "scope", sc.ScopeID, "err", err)
		}
	}
	return f, nil
}

// Boot syncs every persisted scope (loaded by New) in the background, best
// effort, and returns at once; the health endpoint reports progress. It
// also starts polling when PollInterval is set. Boot may be called once.
func (f *Fetcher) Boot(ctx context.Context) error {
	if f.booted.Swap(true) {
		return errors.New("fetcher: boot: already booted")
	}
	f.booting.Store(true)
	ok := f.goBackground(func() {
		defer f.booting.Store(false)
		ctx, stop := f.mergeCtx(ctx)
		defer stop()
		start := time.Now()
		f.syncAll(ctx, start, nil)
		st := f.Stats()
		f.log.Info("boot done", "scopes", st.ScopesTotal, "ready", st.ScopesReady, "failed", st.ScopesFailed, "took", time.Since(start))
	})
	if !ok {
		f.booting.Store(false)
		return errors.New("fetcher: boot: closed")
	}
	if f.cfg.PollInterval > 0 {
		f.goBackground(f.pollLoop)
	}
	return nil
}

// stagingDirName is where clones are written before they move into
// git_sources.
const stagingDirName = "clone_staging"

func (f *Fetcher) stagingDir() string { return filepath.Join(f.cfg.BaseDir, stagingDirName) }

// Booting reports whether the boot sync is still running.
func (f *Fetcher) Booting() bool { return f.booting.Load() }

func (f *Fetcher) pollLoop() {
	t := time.NewTicker(f.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-f.rootCtx.Done():
			return
		case <-t.C:
			f.syncAll(f.rootCtx, time.Now(), func(s *scopeState) bool { return s.scope.Policy.PollUpdates })
		}
	}
}

// goBackground runs fn on a goroutine that Close waits for; after Close it
// does nothing and reports false.
func (f *Fetcher) goBackground(fn func()) bool {
	f.bgMu.RLock()
	defer f.bgMu.RUnlock()
	if f.closed.Load() {
		return false
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		fn()
	}()
	return true
}

// mergeCtx returns a context done when ctx or the fetcher's root context is.
func (f *Fetcher) mergeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	c, cancel := context.WithCancel(f.rootCtx)
	stop := context.AfterFunc(ctx, cancel)
	return c, func() { stop(); cancel() }
}

// Close stops polling, cancels in-flight git work, waits for it and closes
// every open repository.
func (f *Fetcher) Close() error {
	f.closeMu.Lock()
	defer f.closeMu.Unlock()
	f.bgMu.Lock()
	already := f.closed.Swap(true)
	f.bgMu.Unlock()
	if already {
		return nil
	}
	f.cancel()
	f.wg.Wait()
	err := f.caches.closeAll()
	f.strat.release()
	closeIdleHTTP()
	if err != nil {
		return fmt.Errorf("fetcher: close: %w", err)
	}
	return nil
}
