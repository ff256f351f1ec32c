// Package gates holds the gate suite: one file per scenario (boot,
// offline, timeout, recovery, churn, repeat-sync, delete-hang,
// webhook-storm, crash-restart), the runner that gives each a fresh testbed
// and target, and the suite and matrix that gitchaos and go test run.
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
	// (yaml tags name the parameters of suite files).
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
	for _, sc := range Suite {
		if sc.Name == name {
			return sc, nil
		}
	}
	known := Names()
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
	faults *faultStack
	scopes []string // scope ids put, for cleanup on targets that outlive the scenario
	// cleanup, when set by the run, deletes what else it put on a target
	// that outlives it (the soak's extra scopes), before the scopes above.
	cleanup func(context.Context)
}

func (s *S) since() result.Seconds { return result.Secs(time.Since(s.start)) }

// Logf logs a line to the scenario's logger.
func (s *S) Logf(format string, args ...any) {
	s.Logger.Info(fmt.Sprintf(format, args...), "scenario", s.Name)
}

// Mark adds a marker (cycle, fault-on, fault-off, phase).
func (s *S) Mark(kind, label string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.res.Markers = append(s.res.Markers, result.Marker{At: s.since(), Label: label, Kind: kind})
}

// AddSeries records a series.
func (s *S) AddSeries(series result.Series) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.res.Series = append(s.res.Series, series)
}

// AddCheck records a check as it is.
func (s *S) AddCheck(c result.Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.res.Checks = append(s.res.Checks, c)
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
	s.Mark(kind, fault+" "+name)
}
