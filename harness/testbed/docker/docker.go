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
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

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

var envOnce sync.Once

// setEnv disables Ryuk (it would have to be pulled) and fixes the host
// address testcontainers guesses wrongly inside a container, unless the
// user set them. It must run before the first testcontainers call.
func setEnv() {
	envOnce.Do(func() {
		for k, v := range map[string]string{
			"TESTCONTAINERS_RYUK_DISABLED":  "true",
			"TESTCONTAINERS_HOST_OVERRIDE":  "localhost",
			"TESTCONTAINERS_RYUK_VERBOSE":   "false",
			"TESTCONTAINERS_HUB_IMAGE_NAME": "",
		} {
			if v == "" {
				continue
			}
			if _, ok := os.LookupEnv(k); !ok {
				os.Setenv(k, v)
			}
		}
		// testcontainers logs every container step to stderr: route it to
		// slog at debug level instead.
		tclog.SetDefault(debugLogger{})
	})
}

// debugLogger passes testcontainers' log lines to slog.Default at debug level.
type debugLogger struct{}

func (debugLogger) Printf(format string, v ...any) {
	slog.Debug("testcontainers: " + strings.TrimSpace(fmt.Sprintf(format, v...)))
}

// Client returns a docker client (API version negotiated) or an error
// wrapping ErrNoEngine when no engine answers. Close it after use.
func Client(ctx context.Context) (*testcontainers.DockerClient, error) {
	setEnv()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, fmt.Errorf("docker testbed: %w: %w (start Docker, set DOCKER_HOST, or use the local testbed)", ErrNoEngine, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx, clientPingOptions()); err != nil {
		cli.Close()
		return nil, fmt.Errorf("docker testbed: %w: ping: %w (start Docker, set DOCKER_HOST, or use the local testbed)", ErrNoEngine, err)
	}
	return cli, nil
}

// EnsureImages builds the two images when missing and returns their refs.
func EnsureImages(ctx context.Context, logger *slog.Logger) (dockerimg.Refs, error) {
	cli, err := Client(ctx)
	if err != nil {
		return dockerimg.Refs{}, err
	}
	defer cli.Close()
	return dockerimg.Ensure(ctx, dockerimg.Options{Client: cli.Client, Logger: logger})
}

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

// PublishEnv names the environment variable holding the engine-side
// address the testbed's ports are published on (default 127.0.0.1). For a
// remote engine (DOCKER_HOST=tcp://… or ssh://…) set it to an address of
// the engine's machine reachable from here (or 0.0.0.0) and set
// TESTCONTAINERS_HOST_OVERRIDE to that machine's name, so the target dials
// the engine's machine instead of localhost.
const PublishEnv = "GITCHAOS_DOCKER_PUBLISH"

// publishAddr is the address ports are published on: $GITCHAOS_DOCKER_PUBLISH
// or 127.0.0.1.
func publishAddr() (netip.Addr, error) {
	v := os.Getenv(PublishEnv)
	if v == "" {
		return loopback, nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("docker testbed: %s=%q: want an IP address (e.g. 0.0.0.0): %w", PublishEnv, v, err)
	}
	return a, nil
}

// loopbackPorts publishes every exposed port on 127.0.0.1 only (or on
// $GITCHAOS_DOCKER_PUBLISH).
func loopbackPorts(ports ...int) func(*container.HostConfig) {
	addr, err := publishAddr()
	if err != nil { // checked by NewWithOptions before any container starts
		addr = loopback
	}
	return func(hc *container.HostConfig) {
		if hc.PortBindings == nil {
			hc.PortBindings = network.PortMap{}
		}
		for _, p := range ports {
			port := network.MustParsePort(strconv.Itoa(p) + "/tcp")
			hc.PortBindings[port] = []network.PortBinding{{HostIP: addr, HostPort: "0"}}
		}
	}
}

func (tb *Testbed) start(ctx context.Context, opts testbed.Options) error {
	nw, err := tcnetwork.New(ctx, tcnetwork.WithLabels(tb.labels()))
	if err != nil {
		return fmt.Errorf("docker testbed: create network: %w", err)
	}
	tb.net = nw

	// Git servers and toxiproxy start concurrently.
	names := make([]string, opts.Hosts)
	for i := range names {
		names[i] = testbed.HostName(i)
	}
	tb.servers = make([]testcontainers.Container, opts.Hosts)
	errs := make([]error, opts.Hosts+1)
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			tb.servers[i], errs[i] = tb.startGitServer(ctx, name)
		})
	}
	wg.Go(func() {
		tb.proxy, errs[opts.Hosts] = tb.startToxiproxy(ctx, opts.Hosts)
	})
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}

	apiPort, err := mappedPort(ctx, tb.proxy, APIPort)
	if err != nil {
		return err
	}
	tb.toxiURL = "http://127.0.0.1:" + apiPort
	tb.toxi = toxiclient.NewClient(tb.toxiURL)

	tb.hosts = make([]*testbed.Host, opts.Hosts)
	for i, name := range names {
		proxyPort, err := mappedPort(ctx, tb.proxy, FirstProxyPort+i)
		if err != nil {
			return err
		}
		adminPort, err := mappedPort(ctx, tb.servers[i], GitPort)
		if err != nil {
			return err
		}
		p, err := tb.toxi.CreateProxy(name, "0.0.0.0:"+strconv.Itoa(FirstProxyPort+i), name+":"+strconv.Itoa(GitPort))
		if err != nil {
			return fmt.Errorf("docker testbed: create proxy %s: %w", name, err)
		}
		adminURL := "http://127.0.0.1:" + adminPort
		tb.hosts[i] = &testbed.Host{
			Name:     name,
			URL:      "http://127.0.0.1:" + proxyPort,
			AdminURL: adminURL,
			Admin:    &gitserver.AdminClient{BaseURL: adminURL},
			Proxy:    p,
		}
	}

	for i := range errs {
		errs[i] = nil
	}
	for i, h := range tb.hosts {
		wg.Go(func() { errs[i] = seedRepos(ctx, i, h, opts) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// seedRepos creates the host's seeded repos through its admin API, with the
// names and seeds the local testbed uses (testbed.RepoName, testbed.RepoSeed),
// so both kinds serve the same commits for the same options.
func seedRepos(ctx context.Context, hostIndex int, h *testbed.Host, opts testbed.Options) error {
	for i := range opts.Repos {
		if _, err := h.CreateRepo(ctx, testbed.RepoName(i), testbed.RepoSeed(opts.Seed, hostIndex, i), opts.Spec); err != nil {
			return fmt.Errorf("docker testbed: seed: %w", err)
		}
	}
	return nil
}

func (tb *Testbed) startGitServer(ctx context.Context, name string) (testcontainers.Container, error) {
	c, err := testcontainers.Run(ctx, tb.refs.GitServer,
		testcontainers.WithName("gitchaos-"+tb.runID+"-"+name),
		testcontainers.WithLabels(tb.labels()),
		tcnetwork.WithNetwork([]string{name}, tb.net),
		testcontainers.WithExposedPorts(strconv.Itoa(GitPort)+"/tcp"),
		testcontainers.WithHostConfigModifier(loopbackPorts(GitPort)),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/_admin/repos").
			WithPort(strconv.Itoa(GitPort)+"/tcp").
			WithStartupTimeout(30*time.Second).
			WithPollInterval(50*time.Millisecond)),
	)
	if err != nil {
		return c, fmt.Errorf("docker testbed: start git server %s (%s): %w", name, tb.refs.GitServer, err)
	}
	return c, nil
}

func (tb *Testbed) startToxiproxy(ctx context.Context, hosts int) (testcontainers.Container, error) {
	ports := []int{APIPort}
	exposed := []string{strconv.Itoa(APIPort) + "/tcp"}
	for i := range hosts {
		ports = append(ports, FirstProxyPort+i)
		exposed = append(exposed, strconv.Itoa(FirstProxyPort+i)+"/tcp")
	}
	c, err := testcontainers.Run(ctx, tb.refs.Toxiproxy,
		testcontainers.WithName("gitchaos-"+tb.runID+"-toxiproxy"),
		testcontainers.WithLabels(tb.labels()),
		tcnetwork.WithNetwork([]string{"toxiproxy"}, tb.net),
		testcontainers.WithExposedPorts(exposed...),
		testcontainers.WithHostConfigModifier(loopbackPorts(ports...)),
		testcontainers.WithEnv(map[string]string{"LOG_LEVEL": "warn"}),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/version").
			WithPort(strconv.Itoa(APIPort)+"/tcp").
			WithStartupTimeout(30*time.Second).
			WithPollInterval(50*time.Millisecond)),
	)
	if err != nil {
		return c, fmt.Errorf("docker testbed: start toxiproxy (%s): %w", tb.refs.Toxiproxy, err)
	}
	return c, nil
}

func mappedPort(ctx context.Context, c testcontainers.Container, port int) (string, error) {
	p, err := c.MappedPort(ctx, strconv.Itoa(port)+"/tcp")
	if err != nil {
		return "", fmt.Errorf("docker testbed: published port of %d/tcp: %w", port, err)
	}
	return p.Port(), nil
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
