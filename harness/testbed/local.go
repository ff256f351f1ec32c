package testbed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
	"golang.org/x/crypto/ssh"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/fixtures/repogen"
	"github.com/gitchaos/gitchaos/harness/testbed/toxiembed"
)

// Timeouts of Local.Close.
const (
	closeRecoverTimeout  = 10 * time.Second // undoing faults through the APIs
	closeShutdownTimeout = 5 * time.Second  // letting in-flight git requests finish before cutting them
)

// Local is a testbed in this process: per host a git server (package
// gitserver) on 127.0.0.1:0 over a bare-repo directory of its own, and an
// embedded toxiproxy server (package toxiembed) with one proxy per host,
// also on 127.0.0.1:0. Everything lives under one temp dir, removed by
// Close.
type Local struct {
	opts    Options
	log     *slog.Logger
	root    string
	toxi    *toxiembed.Server
	hosts   []*Host
	servers []*localServer
	started time.Duration

	closeOnce sync.Once
	closeErr  error
}

var _ Testbed = (*Local)(nil)

// localServer is one running git server.
type localServer struct {
	name      string
	log       *slog.Logger
	git       *gitserver.Server
	http      *http.Server
	ln        net.Listener
	done      chan struct{} // closed when Serve returned
	transport *http.Transport
	ssh       *gitserver.SSHServer // nil over HTTP
	sshDone   chan struct{}        // closed when the SSH server's Serve returned
}

// DefaultDir is where a local testbed puts its temp dir when Options.Dir
// is empty: a RAM-backed directory (/dev/shm on Linux) when it is writable
// and has at least minShmFree bytes free — repos are small and the testbed
// is thrown away, and seeding there is several times faster than on a busy
// disk — else os.TempDir(). (Containers often get a 64 MiB /dev/shm: too
// small, so the disk is used there.)
func DefaultDir() string {
	if dir, ok := ramDir(); ok {
		return dir
	}
	return os.TempDir()
}

// minShmFree is the free space a RAM-backed dir needs to be used.
const minShmFree = 1 << 30

// NewLocal starts a testbed in this process.
func NewLocal(ctx context.Context, opts Options) (Testbed, error) {
	l, err := StartLocal(ctx, opts)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// StartLocal is NewLocal returning the concrete type. On error everything
// started so far is stopped again.
func StartLocal(ctx context.Context, opts Options) (*Local, error) {
	start := time.Now()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	parent := opts.Dir
	if parent == "" {
		parent = DefaultDir()
	}
	root, err := os.MkdirTemp(parent, "gitchaos-testbed-")
	if err != nil {
		return nil, fmt.Errorf("testbed: local: temp dir: %w", err)
	}
	l := &Local{opts: opts, log: opts.Logger, root: root}
	if err := l.start(ctx); err != nil {
		return nil, errors.Join(err, l.Close())
	}
	l.started = time.Since(start)
	l.log.Debug("testbed: local started", "hosts", opts.Hosts, "repos_per_host", opts.Repos,
		"engine", string(opts.Engine), "took", l.started, "toxiproxy", l.toxi.URL)
	return l, nil
}

func (l *Local) start(ctx context.Context) error {
	for i := range l.opts.Hosts {
		if err := os.Mkdir(l.hostDir(i), 0o755); err != nil {
			return fmt.Errorf("testbed: local: host dir: %w", err)
		}
	}
	// Seed the repos straight onto disk before the servers start: plumbing
	// writes in parallel, no HTTP round trip per repo.
	if err := l.seed(ctx); err != nil {
		return err
	}
	toxi, err := toxiembed.Start(ctx)
	if err != nil {
		return fmt.Errorf("testbed: local: %w", err)
	}
	l.toxi = toxi
	for i := range l.opts.Hosts {
		if err := l.startHost(ctx, i); err != nil {
			return err
		}
	}
	return nil
}

func (l *Local) hostDir(i int) string { return filepath.Join(l.root, HostName(i)) }

// seed generates opts.Repos repos per host, two workers per CPU (the
// writes wait on the file system about half the time).
func (l *Local) seed(ctx context.Context) error {
	total := l.opts.Hosts * l.opts.Repos
	if total == 0 {
		return nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0)*2, total) {
		wg.Go(func() {
			for j := range jobs {
				host, repo := j/l.opts.Repos, j%l.opts.Repos
				dir := filepath.Join(l.hostDir(host), RepoName(repo)+".git")
				if _, err := repogen.Generate(dir, RepoSeed(l.opts.Seed, host, repo), l.opts.Spec); err != nil {
					cancel(fmt.Errorf("testbed: local: seed %s/%s: %w", HostName(host), RepoName(repo), err))
				}
			}
		})
	}
	for j := range total {
		select {
		case jobs <- j:
			continue
		case <-ctx.Done():
		}
		break
	}
	close(jobs)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return fmt.Errorf("testbed: local: seed repos: %w", err)
	}
	return nil
}

func (l *Local) startHost(ctx context.Context, i int) error {
	name := HostName(i)
	gs, err := gitserver.New(gitserver.Options{
		Root:   l.hostDir(i),
		Engine: l.opts.Engine,
		Logger: l.log.With("host", name),
	})
	if err != nil {
		return fmt.Errorf("testbed: local: git server %s: %w", name, err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return errors.Join(fmt.Errorf("testbed: local: listen for git server %s: %w", name, err), gs.Close())
	}
	s := &localServer{
		name: name,
		log:  l.log,
		git:  gs,
		ln:   ln,
		done: make(chan struct{}),
		http: &http.Server{
			Handler:           gs,
			ReadHeaderTimeout: 30 * time.Second,
			ErrorLog:          slog.NewLogLogger(l.log.With("host", name).Handler(), slog.LevelDebug),
		},
		transport: &http.Transport{
			Proxy:               nil, // never through an HTTP_PROXY: the admin API is on loopback
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 8,
			IdleConnTimeout:     30 * time.Second,
		},
	}
	l.servers = append(l.servers, s)
	go func() {
		defer close(s.done)
		_ = s.http.Serve(ln) // http.ErrServerClosed after Shutdown/Close
	}()
	addr := ln.Addr().String()
	upstream, scheme := addr, "http://"
	if l.opts.Transport == TransportSSH {
		sshAddr, err := s.startSSH(ctx, l.log.With("host", name))
		if err != nil {
			return fmt.Errorf("testbed: local: ssh server %s: %w", name, err)
		}
		upstream, scheme = sshAddr, "ssh://"+SSHUser+"@"
	}
	p, err := l.toxi.Client().CreateProxy(name, "127.0.0.1:0", upstream)
	if err != nil {
		return fmt.Errorf("testbed: local: create proxy for %s: %w", name, err)
	}
	adminURL := "http://" + addr
	l.hosts = append(l.hosts, &Host{
		Name:     name,
		URL:      scheme + p.Listen,
		AdminURL: adminURL,
		Admin:    gitserver.NewAdminClient(adminURL, &http.Client{Transport: s.transport, Timeout: 30 * time.Second}),
		Proxy:    p,
	})
	return nil
}

// startSSH serves the host's repos over SSH too, on a port of its own,
// and returns its address.
func (s *localServer) startSSH(ctx context.Context, log *slog.Logger) (string, error) {
	id, err := SSHKeys()
	if err != nil {
		return "", err
	}
	ss, err := gitserver.NewSSHServer(s.git, gitserver.SSHOptions{
		HostKey: id.HostSigner, AuthorizedKeys: []ssh.PublicKey{id.ClientSigner.PublicKey()}, Logger: log,
	})
	if err != nil {
		return "", err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("listen: %w", err)
	}
	s.ssh, s.sshDone = ss, make(chan struct{})
	go func() {
		defer close(s.sshDone)
		if err := ss.Serve(ln); err != nil {
			log.Warn("testbed: local: ssh server stopped", "err", err)
		}
	}()
	return ln.Addr().String(), nil
}

// Kind implements Testbed.
func (l *Local) Kind() string { return "local" }

// Hosts implements Testbed.
func (l *Local) Hosts() []*Host { return l.hosts }

// Host implements Testbed.
func (l *Local) Host(name string) (*Host, error) {
	for _, h := range l.hosts {
		if h.Name == name {
			return h, nil
		}
	}
	return nil, fmt.Errorf("testbed: local: no host %q (have %d hosts: h0..h%d)", name, len(l.hosts), len(l.hosts)-1)
}

// Toxiproxy implements Testbed.
func (l *Local) Toxiproxy() *toxiclient.Client { return l.toxi.Client() }

// ToxiproxyURL is the embedded toxiproxy API's base URL.
func (l *Local) ToxiproxyURL() string { return l.toxi.URL }

// Root is the temp dir holding every host's repos (<root>/<host>/<repo>.git).
func (l *Local) Root() string { return l.root }

// RepoDir is the bare repository directory of repo name on host i.
func (l *Local) RepoDir(host int, name string) string {
	return filepath.Join(l.hostDir(host), name+".git")
}

// StartTime is how long StartLocal took, seeding included.
func (l *Local) StartTime() time.Duration { return l.started }

// Close implements Testbed: it undoes every network fault, stops the proxies (and
// their connections), releases requests held by server faults, shuts the
// git servers down (in-flight requests get closeShutdownTimeout, then are
// cut) and removes the temp dir. It does not use a caller's context, so it
// also works after the run was cancelled; calling it again returns the
// first result.
func (l *Local) Close() error {
	l.closeOnce.Do(func() { l.closeErr = l.close() })
	return l.closeErr
}

func (l *Local) close() error {
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), closeRecoverTimeout)
	defer cancel()
	var wg sync.WaitGroup
	recoverErrs := make([]error, len(l.hosts))
	for i, h := range l.hosts {
		// Server faults need no clearing: the git servers stop below, and
		// their Close releases every request a hang fault holds.
		wg.Go(func() { recoverErrs[i] = h.RecoverNetwork(ctx) })
	}
	wg.Wait()
	errs = append(errs, recoverErrs...)
	if l.toxi != nil {
		if err := l.toxi.Close(); err != nil {
			errs = append(errs, fmt.Errorf("testbed: local: %w", err))
		}
	}
	stopErrs := make([]error, len(l.servers))
	for i, s := range l.servers {
		wg.Go(func() { stopErrs[i] = s.stop() })
	}
	wg.Wait()
	errs = append(errs, stopErrs...)
	if err := os.RemoveAll(l.root); err != nil {
		errs = append(errs, fmt.Errorf("testbed: local: remove %s: %w", l.root, err))
	}
	return errors.Join(errs...)
}

// stop releases held requests, shuts the HTTP server down and waits for
// it. The git server's Close (which releases hang faults and waits for git
// requests in flight) runs next to the HTTP shutdown, so both share one
// bound.
func (s *localServer) stop() error {
	gitDone := make(chan error, 1)
	go func() { gitDone <- s.git.Close() }()
	var errs []error
	if s.ssh != nil {
		if err := s.ssh.Close(); err != nil {
			errs = append(errs, fmt.Errorf("testbed: local: close ssh server %s: %w", s.name, err))
		}
		<-s.sshDone
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeShutdownTimeout)
	defer cancel()
	if err := s.http.Shutdown(ctx); err != nil {
		// In-flight requests did not finish: cut their connections.
		s.log.Warn("testbed: local: git server requests still running at close: cutting them", "host", s.name, "waited", closeShutdownTimeout)
		if cerr := s.http.Close(); cerr != nil {
			errs = append(errs, fmt.Errorf("testbed: local: close http server %s: %w", s.name, cerr))
		}
	}
	<-s.done
	if err := <-gitDone; err != nil {
		errs = append(errs, fmt.Errorf("testbed: local: close git server %s: %w", s.name, err))
	}
	s.transport.CloseIdleConnections()
	return errors.Join(errs...)
}
