package fetcher

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gitchaos/gitchaos/harness/scopeapi"
)

// usageError is a bad flag or environment value (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// options are the parsed flags.
type options struct {
	listen      string
	cfg         Config
	logLevel    slog.Level
	listMutants bool
}

// secondsOrDuration parses "1.5" (seconds) or a Go duration ("1500ms").
func secondsOrDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f < 0 {
			return 0, fmt.Errorf("%q: must be >= 0", s)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q: want seconds (e.g. 2.5) or a duration (e.g. 500ms)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q: must be >= 0", s)
	}
	return d, nil
}

type durationFlag struct{ d *time.Duration }

func (f durationFlag) String() string {
	if f.d == nil {
		return "0"
	}
	return f.d.String()
}

func (f durationFlag) Set(s string) error {
	d, err := secondsOrDuration(s)
	if err != nil {
		return err
	}
	*f.d = d
	return nil
}

type listFlag struct{ l *[]string }

func (f listFlag) String() string {
	if f.l == nil {
		return ""
	}
	return strings.Join(*f.l, ",")
}

func (f listFlag) Set(s string) error {
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*f.l = append(*f.l, p)
		}
	}
	return nil
}

type levelFlag struct{ l *slog.Level }

func (f levelFlag) String() string {
	if f.l == nil {
		return "info"
	}
	return strings.ToLower(f.l.String())
}

func (f levelFlag) Set(s string) error { return f.l.UnmarshalText([]byte(s)) }

// envNames maps flags to the environment variables they default from.
var envNames = map[string]string{
	"listen":            "REFFETCHER_LISTEN",
	"base-dir":          "REFFETCHER_BASE_DIR",
	"git-timeout":       "SCOPES_GIT_FETCH_TIMEOUT",
	"max-workers":       "SCOPES_GIT_MAX_WORKERS",
	"sync-concurrency":  "SCOPES_SYNC_CONCURRENCY",
	"shards":            "SCOPES_REPO_CLONES_SHARDS",
	"host-cap":          "REFFETCHER_HOST_CAP",
	"breaker-threshold": "REFFETCHER_BREAKER_THRESHOLD",
	"breaker-backoff":   "REFFETCHER_BREAKER_BACKOFF",
	"poll-interval":     "REFFETCHER_POLL_INTERVAL",
	"allow-file-urls":   "REFFETCHER_ALLOW_FILE_URLS",
	"token":             "REFFETCHER_TOKEN",
	"mutant":            "REFFETCHER_MUTANTS",
	"log-level":         "REFFETCHER_LOG_LEVEL",
	"object-cache":      "REFFETCHER_OBJECT_CACHE_BYTES",
	"ssh-known-hosts":   "GITCHAOS_SSH_KNOWN_HOSTS",
}

func parse(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	o.logLevel = slog.LevelInfo
	gitTimeout := DefaultGitTimeout
	fs := flag.NewFlagSet("reffetcher", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:7002", "address to serve the HTTP API on")
	fs.StringVar(&o.cfg.BaseDir, "base-dir", "", "directory for the scope store and clones (required)")
	fs.Var(durationFlag{&gitTimeout}, "git-timeout", "per clone/fetch timeout, seconds or duration; 0 = none")
	fs.IntVar(&o.cfg.MaxWorkers, "max-workers", DefaultMaxWorkers, "git worker pool size")
	fs.IntVar(&o.cfg.SyncConcurrency, "sync-concurrency", DefaultSyncConcurrency, "scopes synced at once by boot / refresh-all")
	fs.IntVar(&o.cfg.Shards, "shards", DefaultShards, "SCOPES_REPO_CLONES_SHARDS: branch shards per url")
	fs.IntVar(&o.cfg.HostCap, "host-cap", 0, "concurrent git operations per host (0 = max-workers/4, at least 1)")
	fs.IntVar(&o.cfg.BreakerThreshold, "breaker-threshold", DefaultBreakerThreshold, "consecutive host failures that open its circuit")
	fs.Var(durationFlag{&o.cfg.BreakerBackoff}, "breaker-backoff", "open circuit probes again after this (default 5s)")
	fs.Var(durationFlag{&o.cfg.PollInterval}, "poll-interval", "re-sync scopes with poll_updates this often; 0 = off")
	fs.BoolVar(&o.cfg.AllowFileURLs, "allow-file-urls", false, "allow file:// policy sources")
	fs.StringVar(&o.cfg.Token, "token", "", "bearer token required on every route")
	fs.Var(listFlag{&o.cfg.Mutants}, "mutant", "historical bug to switch back on (repeatable or comma list; see --list-mutants)")
	fs.Var(levelFlag{&o.logLevel}, "log-level", "debug, info, warn or error")
	fs.Int64Var(&o.cfg.ObjectCacheBytes, "object-cache", DefaultObjectCacheBytes, "go-git object cache per open repository, bytes")
	fs.StringVar(&o.cfg.SSHKnownHosts, "ssh-known-hosts", "", "known_hosts lines (text) trusted for ssh:// sources; \"\" = ~/.ssh/known_hosts")
	fs.BoolVar(&o.listMutants, "list-mutants", false, "print the mutants, one per line, and exit")

	// Environment first, as defaults; flags given on the command line win.
	for name, env := range envNames {
		if name == "mutant" {
			continue // a list: flags replace it rather than append to it
		}
		v, ok := lookup(getenv, env)
		if !ok {
			continue
		}
		if err := fs.Set(name, v); err != nil {
			return o, usageError{fmt.Sprintf("environment %s (for --%s): %v", env, name, err)}
		}
	}
	var envMutants []string
	if v, ok := lookup(getenv, envNames["mutant"]); ok {
		_ = listFlag{&envMutants}.Set(v)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return o, usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if o.cfg.Mutants == nil {
		o.cfg.Mutants = envMutants
	}
	if o.listMutants {
		return o, nil
	}
	o.cfg.GitTimeout = gitTimeout
	if gitTimeout == 0 {
		o.cfg.GitTimeout = NoTimeout
	}
	// The pool and shard limits are scopeapi's, the same rules (and
	// words) as the harness's settings and Config.Validate.
	checks := []struct {
		flag string
		err  error
	}{
		{"base-dir", required(o.cfg.BaseDir)},
		{"listen", required(o.listen)},
		{"max-workers", scopeapi.CheckMaxWorkers(o.cfg.MaxWorkers)},
		{"sync-concurrency", scopeapi.CheckSyncConcurrency(o.cfg.SyncConcurrency)},
		{"shards", scopeapi.CheckShards(o.cfg.Shards)},
		{"host-cap", atLeast(o.cfg.HostCap, 0)},
		{"breaker-threshold", atLeast(o.cfg.BreakerThreshold, 1)},
		{"object-cache", atLeast(o.cfg.ObjectCacheBytes, 1)},
	}
	for _, c := range checks {
		if c.err != nil {
			return o, usageError{fmt.Sprintf("--%s: %v", c.flag, c.err)}
		}
	}
	if err := CheckMutants(o.cfg.Mutants); err != nil {
		return o, usageError{fmt.Sprintf("--mutant: %v", err)}
	}
	return o, nil
}

func required(v string) error {
	if v == "" {
		return errors.New("required")
	}
	return nil
}

func atLeast[N int | int64](v, least N) error {
	if v < least {
		return fmt.Errorf("must be >= %d", least)
	}
	return nil
}

func lookup(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

// RunCommand is the reffetcher command (cmd/reffetcher) without the
// process, so that other binaries can embed it: it parses args (flags over
// the environment read through getenv), serves until ctx ends, and returns
// the exit status (0 ok, 1 runtime error, 2 bad flag or environment value).
// ready, if not nil, receives the listening address once the API serves.
func RunCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, ready chan<- string) int {
	o, err := parse(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "reffetcher: %v\n", err)
		return 2
	}
	if o.listMutants {
		for _, m := range Mutants() {
			checks := make([]string, len(m.MustFail))
			for i, c := range m.MustFail {
				checks[i] = c.String()
			}
			fmt.Fprintf(stdout, "%-22s [%s] %s (must fail: %s)\n", m.Name, m.Seam, m.Doc, strings.Join(checks, "; "))
		}
		return 0
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: o.logLevel}))
	o.cfg.Logger = logger
	f, err := New(o.cfg)
	if err != nil {
		fmt.Fprintf(stderr, "reffetcher: %v\n", err)
		return 1
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		f.Close()
		fmt.Fprintf(stderr, "reffetcher: --listen %s: %v\n", o.listen, err)
		return 1
	}
	srv := &http.Server{Handler: f.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if err := f.Boot(ctx); err != nil {
		logger.Error("boot", "err", err)
	}
	logger.Info("reffetcher serving", "addr", ln.Addr().String(), "base_dir", o.cfg.BaseDir, "mutants", o.cfg.Mutants)
	if ready != nil {
		ready <- ln.Addr().String()
	}
	status := 0
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err := <-served:
		logger.Error("serve", "err", err)
		status = 1
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Error("shutdown", "err", err)
		srv.Close()
	}
	if err := f.Close(); err != nil {
		logger.Error("close", "err", err)
		status = 1
	}
	return status
}
