// Package docker is the Docker implementation of testbed.Testbed: one git
// server container per host and one toxiproxy container with a proxy per
// host, on a private network, started through testcontainers-go. The target
// (on the host machine) reaches each repo through toxiproxy's ports
// published on 127.0.0.1; toxiproxy reaches the git servers by their network
// alias (h0, h1, ...). Images are built locally (package dockerimg); nothing
// is ever pulled.
//
// Cleanup: Ryuk cannot run without a registry, so this package disables it
// and cleans up itself. Every container and network carries the labels
// gitchaos=1, gitchaos.run=<run id>, gitchaos.created=<unix seconds>,
// gitchaos.pid and gitchaos.host; Close removes them (idempotent, also
// after a start cut short by Ctrl-C); New first sweeps leftovers of killed
// earlier runs (Sweep: older than a minute and their process gone);
// CloseAll / CloseOnSignal close every live testbed of the process on
// SIGINT/SIGTERM. Images are a cache shared by runs (package dockerimg)
// and stay.
package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/fixtures/repogen"
	"github.com/gitchaos/gitchaos/harness/dockerimg"
	"github.com/gitchaos/gitchaos/harness/guard"
	"github.com/gitchaos/gitchaos/harness/owner"
	"github.com/gitchaos/gitchaos/harness/testbed"
)

// Labels on every container and network a docker testbed creates.
const (
	LabelApp     = dockerimg.LabelApp // "1"
	LabelRun     = "gitchaos.run"     // the run id
	LabelCreated = "gitchaos.created" // creation time, unix seconds
	LabelPID     = "gitchaos.pid"     // process id of the creating process
	LabelHost    = "gitchaos.host"    // hostname of the machine it runs on
	LabelOwner   = "gitchaos.owner"   // "<pid>.<start ticks>" of the creating process (owner.ID)
)

// Ports inside the containers.
const (
	GitPort        = 8080  // git server: git and /_admin/
	SSHPort        = 2222  // git server over SSH (Options.Transport "ssh")
	APIPort        = 8474  // toxiproxy API
	FirstProxyPort = 20000 // proxy of host i listens on FirstProxyPort+i
	MaxHosts       = 64
)

// SweepAge is how old leftovers whose owner cannot be checked (no
// gitchaos.owner label, or made on another host) must be before New's sweep
// removes them, so that a concurrent run is never swept. Objects whose
// creating process still runs on this machine (labels gitchaos.owner or
// gitchaos.pid, and gitchaos.host) are never swept, whatever their age: a
// long `gitchaos testbed up --docker` survives other runs' sweeps. Objects
// whose owner is known dead (same host, that pid no longer runs or runs a
// process started at another time) are swept at any age.
const SweepAge = time.Minute

// ErrNoEngine is wrapped by New's error when no Docker engine answers.
var ErrNoEngine = errors.New("no docker engine")

// Testbed is a running docker testbed.
type Testbed struct {
	runID   string
	log     *slog.Logger
	docker  *testcontainers.DockerClient
	net     *testcontainers.DockerNetwork
	servers []testcontainers.Container
	proxy   testcontainers.Container
	toxi    *toxiclient.Client
	toxiURL string
	hosts   []*testbed.Host
	refs    dockerimg.Refs
	started time.Duration

	aborted bool         // start failed: Close waits for abandoned creations
	guard   *guard.Guard // removes the run if this process dies first (nil: none)

	closeOnce sync.Once
	closeErr  error
}

// abortSettle is how long Close keeps sweeping after a failed start for
// containers whose creation request was abandoned but still completes.
const abortSettle = time.Second

var _ testbed.Testbed = (*Testbed)(nil)

// Options are the docker-specific settings; New uses the defaults.
type Options struct {
	Logger *slog.Logger // nil: slog.Default()
}

// New starts a docker testbed (see the package doc). Without a Docker
// engine it returns an error wrapping ErrNoEngine. On any error everything
// created so far is removed.
func New(ctx context.Context, opts testbed.Options) (testbed.Testbed, error) {
	return NewWithOptions(ctx, opts, Options{})
}

// NewWithOptions is New with docker-specific settings.
func NewWithOptions(ctx context.Context, opts testbed.Options, dopts Options) (*Testbed, error) {
	start := time.Now()
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("docker testbed: %w", err)
	}
	if opts.Engine != "" && opts.Engine != gitserver.EngineGoGit {
		return nil, fmt.Errorf("docker testbed: Options.Engine = %q: the docker image serves only %q", opts.Engine, gitserver.EngineGoGit)
	}
	if opts.Hosts == 0 {
		opts.Hosts = 1
	}
	if opts.Spec.IsZero() {
		opts.Spec = repogen.DefaultSpec()
	}
	log := dopts.Logger
	if log == nil {
		log = opts.Logger
	}
	if log == nil {
		log = slog.Default()
	}

	if _, err := publishAddr(); err != nil {
		return nil, err
	}
	cli, err := Client(ctx)
	if err != nil {
		return nil, err
	}
	if n, err := sweep(ctx, cli, SweepAge); err != nil {
		log.Warn("docker testbed: sweep of earlier runs failed", "err", err)
	} else if n > 0 {
		log.Info("docker testbed: swept leftovers of earlier runs", "removed", n)
	}
	imgStart := time.Now()
	refs, err := dockerimg.Ensure(ctx, dockerimg.Options{Client: cli.Client, Logger: log})
	imgTook := time.Since(imgStart)
	if err != nil {
		cli.Close()
		return nil, fmt.Errorf("docker testbed: images: %w", err)
	}

	tb := &Testbed{runID: newRunID(), log: log, docker: cli, refs: refs}
	// A guard removes the run's containers and network if this process
	// dies without Close (SIGKILL); nil when the binary has no guards.
	if tb.guard, err = guard.Start(guard.Config{Hooks: []guard.Hook{{Name: guardHook, Arg: tb.runID}}}); err != nil {
		cli.Close()
		return nil, fmt.Errorf("docker testbed: %w", err)
	}
	register(tb)
	if err := tb.start(ctx, opts); err != nil {
		tb.aborted = true
		if cerr := tb.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleanup after failed start: %w", cerr))
		}
		return nil, err
	}
	tb.started = time.Since(start)
	log.Info("docker testbed: up", "run", tb.runID, "hosts", opts.Hosts, "repos", opts.Repos, "took", tb.started, "images", imgTook)
	return tb, nil
}

func newRunID() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// labels returns a fresh map: testcontainers writes into the one it gets.
func (tb *Testbed) labels() map[string]string {
	return map[string]string{
		LabelApp:     "1",
		LabelRun:     tb.runID,
		LabelCreated: strconv.FormatInt(time.Now().Unix(), 10),
		LabelPID:     strconv.Itoa(os.Getpid()),
		LabelHost:    hostname(),
		LabelOwner:   owner.Self().String(),
	}
}

// Kind implements testbed.Testbed.
func (tb *Testbed) Kind() string { return "docker" }

// Hosts implements testbed.Testbed.
func (tb *Testbed) Hosts() []*testbed.Host { return tb.hosts }

// Host implements testbed.Testbed.
func (tb *Testbed) Host(name string) (*testbed.Host, error) {
	for _, h := range tb.hosts {
		if h.Name == name {
			return h, nil
		}
	}
	return nil, fmt.Errorf("docker testbed: no host %q (have %d hosts: h0..h%d)", name, len(tb.hosts), len(tb.hosts)-1)
}

// Toxiproxy implements testbed.Testbed.
func (tb *Testbed) Toxiproxy() *toxiclient.Client { return tb.toxi }

// ToxiproxyURL is the toxiproxy API's URL on the host machine.
func (tb *Testbed) ToxiproxyURL() string { return tb.toxiURL }

// RunID is the value of the gitchaos.run label on everything this testbed created.
func (tb *Testbed) RunID() string { return tb.runID }

// Images are the image references the containers run.
func (tb *Testbed) Images() dockerimg.Refs { return tb.refs }

// StartTime is how long New took (image check or build included).
func (tb *Testbed) StartTime() time.Duration { return tb.started }

// Close removes every container and the network of this testbed; calling it
// again returns the first result. It does not use a caller's context, so it
// also works after the run's context was cancelled (Ctrl-C).
func (tb *Testbed) Close() error {
	tb.closeOnce.Do(func() {
		defer unregister(tb)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		var errs []error
		var mu sync.Mutex
		var wg sync.WaitGroup
		// Undo faults first: a flap runs a goroutine in this process, which
		// must stop before its proxy goes away. The servers are removed
		// next, so their state matters no more: a short bound suffices.
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		for _, h := range tb.hosts {
			wg.Go(func() {
				if err := h.Recover(rctx); err != nil {
					tb.log.Debug("docker testbed: recover before close", "host", h.Name, "err", err)
				}
			})
		}
		wg.Wait()
		rcancel()
		all := append([]testcontainers.Container{tb.proxy}, tb.servers...)
		for _, c := range all {
			if c == nil {
				continue
			}
			wg.Go(func() {
				// No graceful stop: the binaries run as PID 1 in scratch images.
				if err := testcontainers.TerminateContainer(c, testcontainers.StopContext(ctx), testcontainers.StopTimeout(0)); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("docker testbed: remove container: %w", err))
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		// The network, and any container whose creation was cut short
		// (Ctrl-C during start) so that no handle of it reached us: both
		// carry this run's label. Containers go first, then networks.
		//
		// After a start cut short, the engine may still be creating a
		// container whose request was abandoned: keep sweeping the run's
		// label until a pass finds nothing after abortSettle.
		settle := time.Now()
		if tb.aborted {
			settle = settle.Add(abortSettle)
		}
		for {
			n, err := removeLabelled(ctx, tb.docker, LabelRun+"="+tb.runID, 0, false)
			if err != nil {
				errs = append(errs, err)
				break
			}
			if (n == 0 && time.Now().After(settle)) || ctx.Err() != nil {
				break
			}
			time.Sleep(100 * time.Millisecond) // re-list interval, bounded by settle and ctx
		}
		if err := tb.docker.Close(); err != nil {
			errs = append(errs, fmt.Errorf("docker testbed: close docker client: %w", err))
		}
		errs = append(errs, tb.guard.Release())
		tb.closeErr = errors.Join(errs...)
	})
	return tb.closeErr
}
