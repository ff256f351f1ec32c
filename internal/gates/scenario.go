// Package gates holds the gate suite: one file per scenario (boot,
// offline, timeout, recovery, churn, repeat-sync, delete-hang,
// webhook-storm, crash-restart), the runner that gives each a fresh testbed
// and target, and the suite and matrix that gitchaos and go test run.
//
// # Adding a gate
//
//  1. internal/gates/NAME.go: the params type (json and yaml tags name its
//     fields in suite files and reports), its GateName and Validate (every
//     rule on the params: the suite is validated whole before any testbed
//     starts, and Run checks none), setScopes and setMaxCycles if --scopes
//     and --max-cycles should size it, the *Gate (name, doc, hosts, default params, settings) and its Run,
//     which makes repos and scopes with s.scopes and records checks.
//  2. Suite, below: the gate in its place in the suite's order.
//  3. scenarios/scenarios.go: the params alias and the wrapper function
//     (func NAME(t, f, NAMEParams, ...Option)).
//  4. docs/gates.md: the gate's row in the table of the suite.
//  5. params_validate_test.go: its invalid values and their errors.
//
// To run it against OPAL, add it to docs/opal/suite.yaml and pin its
// checks in docs/opal/expected.yaml. A gate that must not run by default
// (disk-full: it needs root) goes in OptIn instead of Suite (step 2) and
// docs/gates.md's opt-in table; Lookup, suite files and the matrix find it.
//
// # Adding a check
//
//  1. Declare it in its gate's file, in the gate's var block of checks:
//     bootFirstHealthy = declare("boot", "first-healthy", "time to first healthy scope served", unitSeconds, "what it guards")
//     (declarePerMetric for one check per metric; .sometimes("when") if a
//     run without error may lack it).
//  2. Record it in the gate's body through the recorder, never by title:
//     s.rec.LE(bootFirstHealthy, value, budget, explain) (GE, EQ, True,
//     Skip, Error, Add for a check built elsewhere).
//  3. Add its row to docs/gates.md's "Checks by ID" table (gitchaos checks
//     prints it); refer to it by ID elsewhere (fetcher's mutant table,
//     docs/opal/expected.yaml). TestDeclaredChecksReferences,
//     TestDeclaredChecksEmitted and TestChecksDocumented fail on a missed
//     step.
package gates

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
	"github.com/gitchaos/gitchaos/harness/testbed"
)

// Gate is one gate: parameters with defaults and a body.
type Gate struct {
	Name string
	Doc  string
	// Hosts the scenario's testbed needs.
	Hosts int
	// Params returns a pointer to a fresh params struct with defaults
	// (yaml tags name the parameters of suite files) and a Validate
	// method, called before any testbed of the run starts.
	Params func() any
	// Settings adjusts the suite's target settings for this scenario
	// (nil: the suite's settings as they are).
	Settings func(target.Settings) target.Settings
	// Run is the body. It returns an error only for harness or setup
	// failures; a misbehaving target is a failed check.
	Run func(ctx context.Context, s *S, params any) error
}

// Suite is the gate suite in its order; Lookup and Names read it.
var Suite = []*Gate{bootGate, offlineGate, timeoutGate, recoveryGate, churnGate, repeatSyncGate, deleteHangGate, webhookStormGate, crashRestartGate}

// OptIn are the gates that run only when named (--only, a suite file,
// scenarios' wrappers): not in the default suite, each for its reason
// (disk-full needs root to mount its tmpfs, and a skip would fail a
// --strict default run). Lookup finds them; the matrix runs their
// mutants' rows.
var OptIn = []*Gate{diskFullGate}

// OptInNames lists the opt-in gates' names.
func OptInNames() []string {
	names := make([]string, len(OptIn))
	for i, sc := range OptIn {
		names[i] = sc.Name
	}
	return names
}

// Names lists the scenarios in suite order.
func Names() []string {
	names := make([]string, len(Suite))
	for i, sc := range Suite {
		names[i] = sc.Name
	}
	return names
}

// Lookup returns a scenario by name.
func Lookup(name string) (*Gate, error) {
	for _, sc := range append(Suite[:len(Suite):len(Suite)], OptIn...) {
		if sc.Name == name {
			return sc, nil
		}
	}
	known := append(Names(), OptInNames()...)
	sort.Strings(known)
	return nil, fmt.Errorf("unknown scenario %q (known: %s)", name, strings.Join(known, ", "))
}

// TestbedFactory starts a testbed.
type TestbedFactory func(ctx context.Context, opts testbed.Options) (testbed.Testbed, error)

// S is a running scenario: its testbed, its target and its record.
type S struct {
	Name     string
	Testbed  testbed.Testbed
	Target   target.Target
	Client   *target.Client
	Seed     int64
	Rand     *rand.Rand
	Logger   *slog.Logger
	Settings target.Settings // the target's settings (budgets use these)
	Crash    target.Factory  // makes killable process targets (crash-restart); nil: none
	Fresh    bool            // the target started empty for this scenario

	start  time.Time
	mu     sync.Mutex
	res    *result.Scenario
	rec    *recorder   // checks, series and markers, each check a declared one
	faults *faultStack // the faults injected, undone newest first
	scopes *scopeSet   // the scenario's scopes and repos: names, creates, waits, cleans up
}

func (s *S) since() result.Seconds { return result.Secs(time.Since(s.start)) }

// Logf logs a line to the scenario's logger.
func (s *S) Logf(format string, args ...any) {
	s.Logger.Info(fmt.Sprintf(format, args...), "scenario", s.Name)
}

// logFault records a fault event and its marker (fault-on, fault-off);
// the fault stack calls it for every inject and recover.
func (s *S) logFault(host, repo, fault, action string) {
	s.mu.Lock()
	s.res.Faults = append(s.res.Faults, result.FaultEvent{At: s.since(), Host: host, Repo: repo, Fault: fault, Action: action})
	s.mu.Unlock()
	kind := result.MarkerFaultOn
	if action == result.FaultRecover {
		kind = result.MarkerFaultOff
	}
	name := host
	if repo != "" {
		name += "/" + repo
	}
	s.rec.Mark(kind, fault+" "+name)
}
