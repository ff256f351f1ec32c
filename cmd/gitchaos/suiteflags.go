package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/harness/fetcher"
	"github.com/gitchaos/gitchaos/harness/fetcher/inprocess"
	"github.com/gitchaos/gitchaos/harness/target"
	"github.com/gitchaos/gitchaos/harness/testbed"
	"github.com/gitchaos/gitchaos/harness/testbed/docker"
	"github.com/gitchaos/gitchaos/internal/gates"
)

// listFlag is a repeatable, comma-separated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// envFlag is a repeatable KEY=VALUE flag (not comma-split: values may
// hold commas).
type envFlag []string

func (e *envFlag) String() string   { return strings.Join(*e, " ") }
func (e *envFlag) values() []string { return *e }
func (e *envFlag) Set(v string) error {
	if err := target.ParseEnv([]string{v}); err != nil {
		return err
	}
	*e = append(*e, v)
	return nil
}

// suiteFlags are the flags shared by gate, matrix and soak.
type suiteFlags struct {
	dryRun     bool
	scopes     int
	maxCycles  int
	seed       int64
	only       listFlag
	mutants    listFlag
	targetURL  string
	targetPID  int
	targetDir  string
	targetCmd  string
	targetEnv  envFlag
	watchDirs  listFlag
	strict     bool
	token      string
	gitTimeout time.Duration
	maxWorkers int
	syncConc   int
	shards     int
	out        string
	file       string
	testbed    string
	engine     string
	transport  string
	verbose    bool
	timeout    time.Duration
}

func (f *suiteFlags) register(fs *flag.FlagSet, withTarget bool) {
	d := gates.DefaultSettings()
	fs.IntVar(&f.scopes, "scopes", 0, "override the scope count of every scenario that has one (0: scenario defaults)")
	fs.IntVar(&f.maxCycles, "max-cycles", 0, "cap of the adaptive leak gates (churn cycles, repeat-sync rounds): they run until every leak verdict is decisive or this many (0: params, default 60)")
	fs.Int64Var(&f.seed, "seed", 1, "seed: the same seed replays the same run")
	fs.Var(&f.only, "only", "comma-separated scenarios to run (default: all): "+strings.Join(gates.Names(), ",")+"; opt-in: "+strings.Join(gates.OptInNames(), ","))
	fs.StringVar(&f.out, "out", "", "write report.json, report.html, report.md and report.xml (JUnit) into this dir")
	fs.StringVar(&f.file, "f", "", "suite file (YAML): scenarios, parameters, seed and settings as data")
	fs.StringVar(&f.testbed, "testbed", "local", "where git servers and toxiproxy run: local or docker")
	fs.StringVar(&f.engine, "engine", "", "the local testbed's git server: go-git or http-backend (git's own git http-backend); default go-git for the in-process reference fetcher (its client is go-git), http-backend for every other target")
	fs.StringVar(&f.transport, "transport", "", "what the git hosts speak: http (smart HTTP, the default) or ssh (git-upload-pack over SSH; scopes use OPAL's auth_type ssh with the testbed's key, the target is handed its host key)")
	fs.BoolVar(&f.verbose, "v", false, "log harness progress to stderr")
	fs.DurationVar(&f.timeout, "scenario-timeout", 0, "give up on a scenario after this long (0: 3m, or 4s per scope of --scopes when that is longer)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "check the flags, the suite file and the target, print what would run, and exit 0 without starting anything")
	fs.BoolVar(&f.strict, "strict", false, "turn every skipped check into a failure (a gate that cannot see its input fails)")
	fs.DurationVar(&f.gitTimeout, "git-timeout", d.GitTimeout, "target setting: per-operation git timeout (stated for --target, applied otherwise)")
	fs.IntVar(&f.maxWorkers, "max-workers", d.MaxWorkers, "target setting: git worker pool size")
	fs.IntVar(&f.syncConc, "sync-concurrency", d.SyncConcurrency, "target setting: scopes synced at once")
	fs.IntVar(&f.shards, "shards", d.Shards, "target setting: clone shards per source")
	if withTarget {
		fs.Var(&f.mutants, "mutant", "switch a historical bug back on in the reference fetcher (repeatable or comma-separated)")
		fs.StringVar(&f.targetURL, "target", "", "drive a running server at this URL instead of the in-process reference fetcher")
		fs.IntVar(&f.targetPID, "target-pid", 0, "with --target: the server's pid, for fds, RSS and threads")
		fs.StringVar(&f.targetDir, "target-base-dir", "", "with --target: the server's data dir (clones under git_sources/), for clone-dir and disk checks")
		fs.StringVar(&f.targetCmd, "target-cmd", "", "start the target as a process: command template with {addr}, {port}, {base_dir}")
		fs.Var(&f.targetEnv, "target-env", "with --target-cmd: extra KEY=VALUE environment for the process (repeatable; wins over the settings)")
		fs.Var(&f.watchDirs, "target-watch-dir", "with --target: a dir (besides the base dir) whose disk use is watched, e.g. the server's temp dir (repeatable)")
		fs.StringVar(&f.token, "target-token", "", "bearer token for the target's API")
	}
}

func usagef(format string, args ...any) error { return fmt.Errorf(format, args...) }

// options turns flags into suite options. visited names the flags set on
// the command line (they win over a suite file).
func (f *suiteFlags) options(visited map[string]bool, logOut io.Writer) (gates.Options, error) {
	var opts gates.Options
	// One lock for the log and the suite parts' logs (beside.go).
	logOut = &lockedWriter{w: logOut}
	opts.Logger = suiteLogger(logOut, f.verbose)
	opts.Seed = f.seed
	opts.Scopes = f.scopes
	opts.Timeout = f.timeout
	if f.timeout < 0 {
		return opts, usagef("--scenario-timeout %v: must be >= 0", f.timeout)
	}
	if f.scopes < 0 {
		return opts, usagef("--scopes %d: must be >= 0", f.scopes)
	}
	opts.MaxCycles = f.maxCycles
	if f.maxCycles < 0 {
		return opts, usagef("--max-cycles %d: must be >= 0", f.maxCycles)
	}
	opts.Strict = f.strict
	settings := gates.DefaultSettings()
	var fileEnv []string
	transport := f.transport
	if f.file != "" {
		st, err := gates.LoadSuite(f.file)
		if err != nil {
			return opts, err
		}
		settings = st.Settings
		opts.Only, opts.Params = st.Only, st.Params
		fileEnv = st.TargetEnv
		if st.Transport != "" && !visited["transport"] {
			transport = st.Transport
		}
		if st.Seed != nil && !visited["seed"] {
			opts.Seed = *st.Seed
		}
	}
	if visited["git-timeout"] {
		settings.GitTimeout = f.gitTimeout
	}
	if visited["max-workers"] {
		settings.MaxWorkers = f.maxWorkers
	}
	if visited["sync-concurrency"] {
		settings.SyncConcurrency = f.syncConc
	}
	if visited["shards"] {
		settings.Shards = f.shards
	}
	if err := settings.Validate(); err != nil {
		return opts, usagef("settings: %v", err)
	}
	opts.Settings = settings
	if len(f.only) > 0 {
		opts.Only = f.only
	}
	for _, n := range opts.Only {
		if _, err := gates.Lookup(n); err != nil {
			return opts, usagef("--only: %v", err)
		}
	}
	if err := f.targets(&opts, append(fileEnv, f.targetEnv...)); err != nil {
		return opts, err
	}
	if _, ok := opts.Targets.(*inprocess.Factory); ok {
		// The gates that judge nothing process-wide run in a copy of this
		// binary beside the process-wide ones (beside.go).
		opts.Beside = besideSelf(logOut)
	}
	tb, err := testbedFactory(f.testbed)
	if err != nil {
		return opts, usagef("--%v", err)
	}
	opts.TestbedKind, opts.Testbeds = f.testbed, tb
	opts.Transport = transport
	if err := testbed.ValidateTransport(transport); err != nil {
		return opts, usagef("--%v", err)
	}
	opts.Engine = gitserver.Engine(f.engine)
	if err := opts.Engine.Validate(); err != nil {
		return opts, usagef("--%v", err)
	}
	if opts.Engine == gitserver.EngineHTTPBackend && f.testbed == "docker" {
		return opts, usagef("--engine %s: the docker testbed serves %s only", opts.Engine, gitserver.EngineGoGit)
	}
	if f.out != "" {
		if err := os.MkdirAll(f.out, 0o755); err != nil {
			return opts, usagef("--out: %v", err)
		}
	}
	return opts, nil
}

// testbedFactory is the factory of a testbed kind: local (nil, the
// default) or docker.
func testbedFactory(kind string) (gates.TestbedFactory, error) {
	switch kind {
	case "local":
		return nil, nil
	case "docker":
		return func(ctx context.Context, o testbed.Options) (testbed.Testbed, error) { return docker.New(ctx, o) }, nil
	}
	return nil, fmt.Errorf("testbed %q: want local or docker", kind)
}

// targets picks the target factory: in-process (default), --target URL or
// --target-cmd; crash-restart gets a process target in every case it can.
func (f *suiteFlags) targets(opts *gates.Options, env []string) error {
	n := 0
	for _, set := range []bool{f.targetURL != "", f.targetCmd != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		return usagef("--target and --target-cmd are exclusive: pick one target")
	}
	if f.targetPID != 0 && f.targetURL == "" {
		return usagef("--target-pid %d needs --target URL", f.targetPID)
	}
	if f.targetDir != "" && f.targetURL == "" {
		return usagef("--target-base-dir %s needs --target URL", f.targetDir)
	}
	if f.targetDir != "" {
		if fi, err := os.Stat(f.targetDir); err != nil || !fi.IsDir() {
			return usagef("--target-base-dir %s: not a directory on this machine", f.targetDir)
		}
	}
	if len(f.watchDirs) > 0 && f.targetURL == "" {
		return usagef("--target-watch-dir needs --target URL (exec targets get a temp dir the harness watches)")
	}
	for _, d := range f.watchDirs {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			return usagef("--target-watch-dir %s: not a directory on this machine", d)
		}
	}
	if len(env) > 0 && f.targetURL != "" {
		return usagef("--target-env / target_env: the harness does not start a --target URL server, so it cannot set its environment")
	}
	if len(f.mutants) > 0 && n > 0 {
		return usagef("--mutant switches bugs on in the in-process reference fetcher; it cannot apply to --target or --target-cmd")
	}
	if err := validateMutants(f.mutants); err != nil {
		return err
	}
	switch {
	case f.targetURL != "":
		u := &target.URL{BaseURL: f.targetURL, PID: f.targetPID, BaseDir: f.targetDir, WatchDirs: f.watchDirs, Token: f.token, Stated: opts.Settings}
		if err := u.Validate(); err != nil {
			return usagef("--target: %v", err)
		}
		opts.Targets = u
	case f.targetCmd != "":
		e := &target.Exec{Template: f.targetCmd, Token: f.token, Env: env}
		if f.out != "" {
			e.ArtifactDir = f.out
		}
		if err := e.Validate(); err != nil {
			return usagef("--target-cmd: %v", err)
		}
		opts.Targets = e
	default:
		opts.Targets = &inprocess.Factory{Mutants: f.mutants, Logger: f.targetLogger(opts.Logger)}
		crash, err := selfFetcher(f.mutants, f.out)
		if err != nil {
			opts.Logger.Warn("crash-restart will be skipped: no process target", "err", err)
		} else {
			crash.Env = env
			opts.Crash = crash
		}
	}
	return nil
}

// selfFetcher is a process target running this very binary as the
// reference fetcher (the hidden "reffetcher" subcommand), for the
// crash-restart gate of an in-process run.
func selfFetcher(mutants []string, artifacts string) (*target.Exec, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	tmpl := fmt.Sprintf("'%s' reffetcher --listen {addr} --base-dir {base_dir}", self)
	if len(mutants) > 0 {
		tmpl += " --mutant " + strings.Join(mutants, ",")
	}
	return &target.Exec{Template: tmpl, ArtifactDir: artifacts}, nil
}

// parseFlags parses args; -h is exit 0, a bad flag exit 2 (ok false).
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "gitchaos %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitUsage, false
	}
	return 0, true
}

func visitedFlags(fs *flag.FlagSet) map[string]bool {
	m := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { m[f.Name] = true })
	return m
}

// validateMutants names every unknown mutant and lists the known ones
// (the fetcher's mutant table is the only list).
func validateMutants(names []string) error {
	if err := fetcher.CheckMutants(names); err != nil {
		return usagef("--mutant: %w", err)
	}
	return nil
}

// targetLogger is the in-process fetcher's logger (reffetcherLogger).
func (f *suiteFlags) targetLogger(l *slog.Logger) *slog.Logger {
	return reffetcherLogger(l, f.verbose)
}

// suiteLogger is the harness's logger on out: warnings, and with -v
// (verbose) its progress too. A suite part (beside.go) makes the same.
func suiteLogger(out io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: level}))
}

// reffetcherLogger is the in-process fetcher's logger: the harness's l
// with -v, else none (its warnings about faults the harness injected are
// noise).
func reffetcherLogger(l *slog.Logger, verbose bool) *slog.Logger {
	if verbose {
		return l.With("target", "reffetcher")
	}
	return nil
}
