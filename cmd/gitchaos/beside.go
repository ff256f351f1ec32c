package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/harness/fetcher/inprocess"
	"github.com/gitchaos/gitchaos/harness/proctree"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
	"github.com/gitchaos/gitchaos/harness/testbed/docker"
	"github.com/gitchaos/gitchaos/internal/gates"
)

// partSpec is a part of a suite run on the in-process reference fetcher
// that "gitchaos suite-part" runs in a process of its own
// (gates.Options.Beside): what of the parent's options it needs, as a
// JSON file named on its command line.
type partSpec struct {
	Names     []string                   `json:"names"`
	Mutants   []string                   `json:"mutants,omitempty"`
	Settings  target.Settings            `json:"settings"`
	Seed      int64                      `json:"seed"`
	Params    map[string]json.RawMessage `json:"params,omitempty"`
	Scopes    int                        `json:"scopes,omitempty"`
	MaxCycles int                        `json:"max_cycles,omitempty"`
	Transport string                     `json:"transport,omitempty"`
	Engine    string                     `json:"engine,omitempty"`
	Testbed   string                     `json:"testbed"`
	Strict    bool                       `json:"strict,omitempty"`
	Timeout   time.Duration              `json:"timeout"`
	Parallel  int                        `json:"parallel"`
	Kind      string                     `json:"kind"`
	Verbose   bool                       `json:"verbose,omitempty"` // the parent logs progress (-v)
	Crash     *crashSpec                 `json:"crash,omitempty"`   // nil: crash-restart skipped, as in the parent
	Results   string                     `json:"results"`           // file the part's scenarios are written to
}

// crashSpec is the parent's process target for crash-restart.
type crashSpec struct {
	Env       []string `json:"env,omitempty"`
	Artifacts string   `json:"artifacts,omitempty"`
}

// partEvent is one line of suite-part's stdout: a scenario starting
// (Result nil) or finished. A finished one carries its checks without
// series and markers (the progress line needs no more); the whole
// scenarios are read from partSpec.Results at the end, so the parent
// decodes little while its own gates measure its heap.
type partEvent struct {
	Index  int              `json:"index"`
	Name   string           `json:"name"`
	Result *result.Scenario `json:"result,omitempty"`
}

// besideWaitDelay bounds how long a part that was told to stop (SIGTERM:
// its scenarios tear down) may take before it is killed.
const besideWaitDelay = 30 * time.Second

// besideSelf is gates.Options.Beside for the in-process reference
// fetcher: a copy of this binary ("gitchaos suite-part") runs the
// scenarios, its logs written to logOut (this process's log writer, which
// keeps a terminal's live line clear). Any other target, or an in-process
// factory the spec cannot carry (a Tune function, a temp dir), is
// refused: they run here.
func besideSelf(logOut io.Writer) gates.Beside {
	return func(ctx context.Context, opts gates.Options, names []string, progress func(gates.SuiteEvent)) (func() ([]*result.Scenario, error), error) {
		return startPart(ctx, opts, names, progress, logOut)
	}
}

// startPart starts "gitchaos suite-part" for names (besideSelf).
func startPart(ctx context.Context, opts gates.Options, names []string, progress func(gates.SuiteEvent), logOut io.Writer) (func() ([]*result.Scenario, error), error) {
	spec, err := partSpecOf(opts, names)
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	if opts.TestbedKind == "docker" {
		// The testbed's images built once, here: on first use both
		// processes would build the same images at once.
		if _, err := docker.EnsureImages(ctx, opts.Logger); err != nil {
			return nil, fmt.Errorf("docker testbed images: %w", err)
		}
	}
	dir, err := os.MkdirTemp("", "gitchaos-part-*")
	if err != nil {
		return nil, fmt.Errorf("suite part: %w", err)
	}
	spec.Results = filepath.Join(dir, "scenarios.json")
	specFile := filepath.Join(dir, "spec.json")
	if err := writeJSONFile(specFile, spec); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("suite part: %w", err)
	}
	cmd := exec.CommandContext(ctx, self, "suite-part", specFile)
	cmd.Env = partEnv(os.Environ())
	cmd.Stderr = logOut
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = besideWaitDelay
	// The part stops (SIGTERM: its scenarios tear down) if this process
	// dies without stopping it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	out, err := cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("suite part: %w", err)
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("suite part: start %s: %w", self, err)
	}
	read := make(chan error, 1)
	go func() { read <- relayPart(out, progress) }()
	return func() ([]*result.Scenario, error) {
		defer os.RemoveAll(dir)
		rerr := <-read
		werr := cmd.Wait()
		res, ferr := readPart(spec.Results, names)
		switch {
		case werr != nil:
			return res, fmt.Errorf("suite part %s: %w", strings.Join(names, ","), werr)
		case rerr != nil:
			return res, fmt.Errorf("suite part %s: events: %w", strings.Join(names, ","), rerr)
		}
		return res, ferr
	}, nil
}

// partSpecOf is what a suite part needs of opts to run names as the
// parent would.
func partSpecOf(opts gates.Options, names []string) (partSpec, error) {
	f, ok := opts.Targets.(*inprocess.Factory)
	if !ok {
		return partSpec{}, fmt.Errorf("target %s is not the in-process reference fetcher", opts.Targets.Describe())
	}
	if f.Tune != nil || f.TempDir != "" {
		return partSpec{}, errors.New("the in-process factory is tuned: another process cannot carry its settings")
	}
	spec := partSpec{
		Names: names, Mutants: f.Mutants, Settings: opts.Settings, Seed: opts.Seed,
		Scopes: opts.Scopes, MaxCycles: opts.MaxCycles, Transport: opts.Transport, Engine: string(opts.Engine),
		Testbed: opts.TestbedKind, Strict: opts.Strict, Timeout: opts.Timeout, Parallel: opts.Parallel, Kind: opts.Kind,
		Verbose: opts.Logger != nil && opts.Logger.Enabled(context.Background(), slog.LevelInfo),
	}
	for _, n := range names {
		p, ok := opts.Params[n]
		if !ok || p == nil {
			continue
		}
		raw, err := json.Marshal(p)
		if err != nil {
			return partSpec{}, fmt.Errorf("params of %s: %w", n, err)
		}
		if spec.Params == nil {
			spec.Params = map[string]json.RawMessage{}
		}
		spec.Params[n] = raw
	}
	if opts.Crash != nil {
		e, ok := opts.Crash.(*target.Exec)
		if !ok {
			return partSpec{}, fmt.Errorf("crash-restart target %s is not a process this binary starts", opts.Crash.Describe())
		}
		spec.Crash = &crashSpec{Env: e.Env, Artifacts: e.ArtifactDir}
	}
	return spec, nil
}

// partEnv is this process's environment for a suite part, without the
// in-process target marker: the part is not a child of this process's
// targets, and its own targets' children carry its own marker.
func partEnv(env []string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, proctree.MarkerVar+"=") {
			out = append(out, kv)
		}
	}
	// A test binary acting as this one (TestMain) runs the command.
	return append(out, "GITCHAOS_TEST_AS_MAIN=1")
}

// relayPart reads a part's events from r and hands them to progress
// (finished scenarios carry their checks only; Index is into the part's
// names, which the suite maps to its own with Total).
func relayPart(r io.Reader, progress func(gates.SuiteEvent)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var ev partEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("line %q: %w", clampLine(sc.Text(), 81), err)
		}
		progress(gates.SuiteEvent{Index: ev.Index, Name: ev.Name, Result: ev.Result})
	}
	return sc.Err()
}

// readPart reads the scenarios a part wrote, in the order of names (nil
// where it wrote none).
func readPart(path string, names []string) ([]*result.Scenario, error) {
	out := make([]*result.Scenario, len(names))
	b, err := os.ReadFile(path)
	if err != nil {
		return out, fmt.Errorf("suite part results: %w", err)
	}
	var got []*result.Scenario
	if err := json.Unmarshal(b, &got); err != nil {
		return out, fmt.Errorf("suite part results %s: %w", path, err)
	}
	for _, r := range got {
		for i, n := range names {
			if r != nil && r.Name == n && out[i] == nil {
				out[i] = r
				break
			}
		}
	}
	return out, nil
}

// writeJSONFile writes v to path as JSON.
func writeJSONFile(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// cmdSuitePart is the hidden "gitchaos suite-part SPEC.json": it reads a
// partSpec, runs its scenarios on the in-process reference fetcher,
// prints a partEvent line per start and end, and writes the scenarios to
// the spec's results file. Exit 0 when it ran (whatever the verdicts),
// 2 on a bad spec.
func cmdSuitePart(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: gitchaos suite-part SPEC.json (run by gitchaos itself: a part of a suite beside its process-wide gates)")
		return exitUsage
	}
	var spec partSpec
	b, err := os.ReadFile(args[0])
	if err == nil {
		err = json.Unmarshal(b, &spec)
	}
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos suite-part: spec %s: %v\n", args[0], err)
		return exitUsage
	}
	if spec.Results == "" {
		fmt.Fprintf(stderr, "gitchaos suite-part: spec %s: no results file\n", args[0])
		return exitUsage
	}
	opts, err := spec.options(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos suite-part: %v\n", err)
		return exitUsage
	}
	enc := json.NewEncoder(stdout)
	opts.Progress = func(ev gates.SuiteEvent) {
		pe := partEvent{Index: ev.Index, Name: ev.Name}
		if ev.Result != nil {
			brief := *ev.Result
			brief.Series, brief.Markers = nil, nil
			pe.Result = &brief
		}
		_ = enc.Encode(pe)
	}
	run, err := gates.RunSuite(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos suite-part: %v\n", err)
		return exitUsage
	}
	if err := writeJSONFile(spec.Results, run.Scenarios); err != nil {
		fmt.Fprintf(stderr, "gitchaos suite-part: results: %v\n", err)
		return exitFail
	}
	return exitOK
}

// options are the suite options spec describes.
func (spec partSpec) options(logOut io.Writer) (gates.Options, error) {
	logger := suiteLogger(logOut, spec.Verbose)
	opts := gates.Options{
		Targets: &inprocess.Factory{Mutants: spec.Mutants, Logger: reffetcherLogger(logger, spec.Verbose)},
		Engine:  gitserver.Engine(spec.Engine), Transport: spec.Transport, Settings: spec.Settings, Seed: spec.Seed,
		Only: spec.Names, Scopes: spec.Scopes, MaxCycles: spec.MaxCycles, Logger: logger, Kind: spec.Kind,
		Timeout: spec.Timeout, Parallel: spec.Parallel, Strict: spec.Strict,
	}
	if len(spec.Names) == 0 {
		return opts, errors.New("spec names no scenario")
	}
	if err := validateMutants(spec.Mutants); err != nil {
		return opts, err
	}
	tb, err := testbedFactory(spec.Testbed)
	if err != nil {
		return opts, err
	}
	opts.TestbedKind, opts.Testbeds = spec.Testbed, tb
	for n, raw := range spec.Params {
		sc, err := gates.Lookup(n)
		if err != nil {
			return opts, fmt.Errorf("params: %w", err)
		}
		if sc.Params == nil {
			return opts, fmt.Errorf("params of %s: the gate takes none", n)
		}
		p := sc.Params()
		if err := json.Unmarshal(raw, p); err != nil {
			return opts, fmt.Errorf("params of %s: %w", n, err)
		}
		if opts.Params == nil {
			opts.Params = map[string]any{}
		}
		opts.Params[n] = p
	}
	if spec.Crash != nil {
		crash, err := selfFetcher(spec.Mutants, spec.Crash.Artifacts)
		if err != nil {
			return opts, err
		}
		crash.Env = spec.Crash.Env
		opts.Crash = crash
	}
	return opts, opts.Validate()
}

// lockedWriter serialises writes to w: the suite's log handler and every
// suite part's stderr copy (parts run beside each other: matrix rows)
// write to one writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
