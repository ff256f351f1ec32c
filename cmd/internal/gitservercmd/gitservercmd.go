// Package gitservercmd is the git server command: bare git repositories
// served read-only over smart HTTP (http://ADDR/<name>.git) with the
// gitchaos admin API under /_admin/ — the fixtures/gitserver handler as a
// process. cmd/gitserver is this command alone; `gitchaos gitserver` is the
// same inside the multi-call gitchaos binary, which is the entrypoint of the
// gitchaos-gitserver image (harness/dockerimg). It builds with
// CGO_ENABLED=0; in a FROM scratch image use --engine go-git.
//
//	gitserver --listen ADDR --root DIR [--engine go-git|http-backend] [--seed-repos N] [--seed S]
//
// --seed-repos N generates repos r000, r001, ... (repogen.DefaultSpec, seed
// S+i) that do not exist yet. Cancelling the context (SIGINT or SIGTERM in
// the commands) releases hung requests and shuts down; exit status 0 after
// that, 1 on a runtime error, 2 on bad flags.
package gitservercmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/fixtures/repogen"
)

// maxSeedRepos bounds --seed-repos.
const maxSeedRepos = 100000

type config struct {
	listen    string
	root      string
	engine    gitserver.Engine
	seedRepos int
	seed      int64
	logLevel  slog.Level
	ssh       sshFlags
	sshOpts   *gitserver.SSHOptions // nil: no SSH listener
}

// usageError is a bad command line (exit status 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("gitserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free port)")
	fs.StringVar(&c.root, "root", "", "directory holding <name>.git bare repos (created if missing; required)")
	engine := fs.String("engine", "", `"go-git" or "http-backend" (default: http-backend when git is on PATH, else go-git)`)
	fs.IntVar(&c.seedRepos, "seed-repos", 0, "generate repos r000..r<N-1> that do not exist yet")
	fs.Int64Var(&c.seed, "seed", 1, "seed of the generated repos (repo i gets seed+i)")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.ssh.listen, "ssh-listen", os.Getenv(EnvSSHListen), "also serve the repos over SSH on this address (ssh://git@ADDR/<name>.git; default $"+EnvSSHListen+", empty: no SSH)")
	fs.StringVar(&c.ssh.hostKeyFile, "ssh-host-key", "", "PEM private host key file for --ssh-listen (default: the key in $"+EnvSSHHostKey+")")
	fs.StringVar(&c.ssh.authorizedFile, "ssh-authorized-keys", "", "authorized_keys file of the client keys let in (default: the lines in $"+EnvSSHAuthorizedKeys+")")
	if err := fs.Parse(args); err != nil {
		return c, usageError{err}
	}
	if fs.NArg() > 0 {
		return c, usageError{fmt.Errorf("unexpected arguments %q (all options are flags)", fs.Args())}
	}
	c.engine = gitserver.Engine(*engine)
	var errs []error
	if c.root == "" {
		errs = append(errs, errors.New("--root is required"))
	}
	if _, _, err := net.SplitHostPort(c.listen); err != nil {
		errs = append(errs, fmt.Errorf("--listen %q: want host:port: %w", c.listen, err))
	}
	if err := c.engine.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--%w", err))
	}
	if c.seedRepos < 0 || c.seedRepos > maxSeedRepos {
		errs = append(errs, fmt.Errorf("--seed-repos %d: want 0..%d", c.seedRepos, maxSeedRepos))
	}
	if err := c.logLevel.UnmarshalText([]byte(*level)); err != nil {
		errs = append(errs, fmt.Errorf("--log-level %q: want debug, info, warn or error", *level))
	}
	if o, err := c.ssh.options(); err != nil {
		errs = append(errs, err)
	} else {
		c.sshOpts = o
	}
	if len(errs) > 0 {
		return c, usageError{errors.Join(errs...)}
	}
	return c, nil
}

// Run runs the git server with the command line args until ctx is done;
// it returns the exit status.
func Run(ctx context.Context, args []string, stderr io.Writer) int {
	c, err := parseFlags(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "gitserver: %v\n", err)
		}
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: c.logLevel}))
	if err := serve(ctx, c, log); err != nil {
		log.Error("gitserver: exiting", "err", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, c config, log *slog.Logger) error {
	if err := os.MkdirAll(c.root, 0o755); err != nil {
		return fmt.Errorf("--root %q: %w", c.root, err)
	}
	srv, err := gitserver.New(gitserver.Options{Root: c.root, Engine: c.engine, Logger: log})
	if err != nil {
		return err
	}
	if err := seedRepos(ctx, srv, c, log); err != nil {
		return errors.Join(err, srv.Close())
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", c.listen)
	if err != nil {
		return errors.Join(fmt.Errorf("--listen %q: %w", c.listen, err), srv.Close())
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	log.Info("gitserver: listening", "addr", ln.Addr().String(), "url", "http://"+ln.Addr().String(), "root", srv.Root(), "engine", string(srv.Engine()))
	stopSSH := func() error { return nil }
	if c.sshOpts != nil {
		stop, err := serveSSH(srv, c.ssh.listen, c.sshOpts, log)
		if err != nil {
			return errors.Join(err, ln.Close(), srv.Close())
		}
		stopSSH = stop
	}
	defer func() { _ = stopSSH() }()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return errors.Join(fmt.Errorf("serve: %w", err), srv.Close())
	case <-ctx.Done():
	}
	log.Info("gitserver: shutting down")
	closeErr := srv.Close() // releases hung requests first
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	shutErr := hs.Shutdown(sctx)
	if shutErr != nil {
		shutErr = errors.Join(fmt.Errorf("shutdown: %w", shutErr), hs.Close())
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		shutErr = errors.Join(shutErr, fmt.Errorf("serve: %w", err))
	}
	return errors.Join(closeErr, shutErr)
}

// seedRepos generates the missing repos r000.. in parallel.
func seedRepos(ctx context.Context, srv *gitserver.Server, c config, log *slog.Logger) error {
	if c.seedRepos == 0 {
		return nil
	}
	start := time.Now()
	width := max(3, len(fmt.Sprint(c.seedRepos-1)))
	jobs := make(chan int)
	var mu sync.Mutex
	var errs []error
	created := 0
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				name := fmt.Sprintf("r%0*d", width, i)
				if _, err := os.Stat(filepath.Join(srv.Root(), name+".git")); err == nil {
					continue
				}
				_, err := srv.CreateRepo(gitserver.CreateRepoRequest{Name: name, Seed: c.seed + int64(i), Spec: repogen.DefaultSpec()})
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("seed repo %s: %w", name, err))
				} else {
					created++
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for i := 0; i < c.seedRepos; i++ {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("seed repos: interrupted: %w", err)
	}
	log.Info("gitserver: seeded repos", "requested", c.seedRepos, "created", created, "names", strings.Join([]string{fmt.Sprintf("r%0*d", width, 0), fmt.Sprintf("r%0*d", width, c.seedRepos-1)}, ".."), "took", time.Since(start).Round(time.Millisecond).String())
	return nil
}
