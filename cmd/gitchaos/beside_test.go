package main

import (
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/harness/fetcher/inprocess"
	"github.com/gitchaos/gitchaos/harness/proctree"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
	"github.com/gitchaos/gitchaos/internal/gates"
)

// What a suite part runs is what the parent would have run: the options
// it rebuilds from the spec carry the parent's mutants, settings, seed,
// params from a suite file, overrides, testbed and crash target.
func TestPartSpecCarriesTheOptions(t *testing.T) {
	suite := filepath.Join(t.TempDir(), "suite.yaml")
	if err := os.WriteFile(suite, []byte("settings: {git_timeout: 2s, max_workers: 4}\nscenarios:\n  - name: boot\n    params: {scopes: 16}\n  - name: webhook-storm\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var f suiteFlags
	fs := flag.NewFlagSet("gate", flag.ContinueOnError)
	f.register(fs, true)
	out := t.TempDir()
	if err := fs.Parse([]string{"-f", suite, "--seed", "7", "--mutant", "webhook-task-leak", "--max-cycles", "9", "--strict", "--scenario-timeout", "40s", "--out", out, "--transport", "ssh", "-v"}); err != nil {
		t.Fatal(err)
	}
	opts, err := f.options(visitedFlags(fs), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Beside == nil {
		t.Fatal("the in-process reference fetcher's options have no Beside")
	}
	spec, err := partSpecOf(opts, opts.Only)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	var back partSpec
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	back.Results = "x"
	got, err := back.options(os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if m := got.Targets.(*inprocess.Factory).Mutants; !slices.Equal(m, []string{"webhook-task-leak"}) {
		t.Errorf("mutants %v", m)
	}
	if !got.Logger.Enabled(context.Background(), slog.LevelInfo) || got.Targets.(*inprocess.Factory).Logger == nil {
		t.Error("-v not carried: the part logs warnings only, or its fetcher logs nothing")
	}
	if got.Settings != opts.Settings || got.Settings.GitTimeout != 2*time.Second {
		t.Errorf("settings %+v, want %+v", got.Settings, opts.Settings)
	}
	if got.Seed != 7 || got.MaxCycles != 9 || !got.Strict || got.Timeout != 40*time.Second || got.Transport != "ssh" || got.TestbedKind != "local" {
		t.Errorf("seed %d max-cycles %d strict %v timeout %v transport %q testbed %q", got.Seed, got.MaxCycles, got.Strict, got.Timeout, got.Transport, got.TestbedKind)
	}
	if !reflect.DeepEqual(got.Params["boot"], opts.Params["boot"]) {
		t.Errorf("boot params %+v, want %+v", got.Params["boot"], opts.Params["boot"])
	}
	crash, ok := got.Crash.(*target.Exec)
	if !ok || crash.ArtifactDir != out || !strings.Contains(crash.Template, "--mutant webhook-task-leak") {
		t.Errorf("crash target %+v", got.Crash)
	}
	// A target the part cannot start itself stays here.
	opts.Targets = &target.Exec{Template: "x {addr}"}
	if _, err := partSpecOf(opts, opts.Only); err == nil || !strings.Contains(err.Error(), "not the in-process reference fetcher") {
		t.Errorf("exec target: err %v", err)
	}
}

// The part is not counted as a child of this process's in-process
// targets: it does not carry their marker.
func TestPartEnvDropsTheMarker(t *testing.T) {
	env := partEnv([]string{"A=1", proctree.MarkerVar + "=gitchaos-inprocess-1", "B=2"})
	for _, kv := range env {
		if strings.HasPrefix(kv, proctree.MarkerVar+"=") {
			t.Errorf("marker kept: %v", env)
		}
	}
	if !slices.Contains(env, "A=1") || !slices.Contains(env, "B=2") {
		t.Errorf("environment lost: %v", env)
	}
}

// A part runs in another process and reports back: a start and an end
// event per scenario, then the whole scenario (series and markers too),
// judged with the parent's mutant (webhook-task-leak fails its check).
func TestBesideRunsThePartElsewhere(t *testing.T) {
	opts := gates.Options{Targets: &inprocess.Factory{Mutants: []string{"webhook-task-leak"}}, Seed: 3, TestbedKind: "local", Settings: gates.DefaultSettings()}
	var mu sync.Mutex
	var events []string
	wait, err := besideSelf(os.Stderr)(context.Background(), opts, []string{"webhook-storm"}, func(ev gates.SuiteEvent) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, ev.Name+map[bool]string{true: " start", false: " end"}[ev.Result == nil])
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := wait()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"webhook-storm start", "webhook-storm end"}; !slices.Equal(events, want) {
		t.Errorf("events %v, want %v", events, want)
	}
	if len(res) != 1 || res[0] == nil {
		t.Fatalf("results %v", res)
	}
	r := res[0]
	if r.Seed != 3 || len(r.Markers) == 0 {
		t.Errorf("scenario seed %d, %d markers: not the whole scenario", r.Seed, len(r.Markers))
	}
	var caught bool
	for _, c := range r.Checks {
		if c.ID == "webhook-storm.trailing-running-only" {
			caught = c.Verdict == result.Fail
		}
	}
	if !caught {
		t.Errorf("webhook-task-leak not caught beside: %+v", r.Checks)
	}
}

// Cancelled, the part is told to stop and wait returns: nothing keeps
// running.
func TestBesideStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := gates.Options{Targets: &inprocess.Factory{}, Seed: 1, TestbedKind: "local", Settings: gates.DefaultSettings(), MaxCycles: 60}
	started := make(chan struct{}, 1)
	wait, err := besideSelf(os.Stderr)(ctx, opts, []string{"churn"}, func(ev gates.SuiteEvent) {
		if ev.Result == nil {
			select {
			case started <- struct{}{}:
			default:
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	cancel()
	t0 := time.Now()
	res, _ := wait()
	if d := time.Since(t0); d > besideWaitDelay {
		t.Errorf("wait took %v after the cancel", d)
	}
	if len(res) != 1 {
		t.Errorf("results %v", res)
	}
}

// A bad spec is a usage error naming what is wrong.
func TestSuitePartBadSpec(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ spec, want string }{
		{"{", "unexpected end of JSON input"},
		{`{"names":["churn"]}`, "no results file"},
		{`{"names":["nope"],"results":"r","testbed":"local","settings":{"git_timeout":1000000000,"max_workers":8,"sync_concurrency":8,"shards":1}}`, `unknown scenario "nope"`},
		{`{"names":["churn"],"results":"r","testbed":"cloud"}`, `testbed "cloud"`},
	} {
		p := filepath.Join(dir, "spec.json")
		if err := os.WriteFile(p, []byte(tc.spec), 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := runCLI(t, "suite-part", p)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("spec %s: exit %d, stderr %q, want 2 and %q", tc.spec, code, stderr, tc.want)
		}
	}
	if code, _, stderr := runCLI(t, "suite-part"); code != exitUsage || !strings.Contains(stderr, "usage: gitchaos suite-part SPEC.json") {
		t.Errorf("no spec: exit %d, stderr %q", code, stderr)
	}
}
