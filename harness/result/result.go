// Package result is the result model of a gitchaos run: scenarios, their
// checks with measured values, budgets and verdicts, fault logs and sampled
// series. Every report format renders from it, and report.json is it.
package result

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Verdict of a check or a run.
type Verdict string

// Verdicts.
const (
	Pass  Verdict = "pass"
	Fail  Verdict = "fail"
	Skip  Verdict = "skip"  // the target lacks what the check needs; Explanation says why
	Error Verdict = "error" // the harness could not run the check
)

// Run is one gitchaos invocation (gate, matrix cell, soak).
type Run struct {
	ID        string            `json:"id"`
	Kind      string            `json:"kind"` // gate, soak, matrix
	Seed      int64             `json:"seed"`
	Target    string            `json:"target"`  // e.g. "in-process reffetcher (mutants: none)"
	Testbed   string            `json:"testbed"` // local, docker
	Mutants   []string          `json:"mutants,omitempty"`
	Versions  map[string]string `json:"versions,omitempty"` // gitchaos, go, git, toxiproxy ...
	Started   time.Time         `json:"started"`
	Duration  Seconds           `json:"duration_s"`
	Scenarios []*Scenario       `json:"scenarios"`
	// Catch is set on a matrix run of a mutant: the checks that must fail
	// and which did.
	Catch *Catch `json:"catch,omitempty"`
	// Settings are the target settings and overrides the run used, as a
	// label (report merge refuses parts whose settings differ).
	Settings string `json:"settings,omitempty"`
	// Shard is set on a run that ran one shard of a selection (--shard).
	Shard *Shard `json:"shard,omitempty"`
	// Parts lists the runs a merged run was made of (gitchaos report merge).
	Parts []Part `json:"parts,omitempty"`
}

// Catch is how a mutant fared against the checks that guard its bug: it is
// caught only when every one of them failed (an errored or skipped check,
// or a scenario that could not run, is never a catch).
type Catch struct {
	Mutant   string `json:"mutant"`
	Seam     string `json:"seam,omitempty"`
	Upstream string `json:"upstream,omitempty"`
	// MustFail are the guarding checks with the verdict each got ("" when
	// the check never ran).
	MustFail []CheckRef `json:"must_fail"`
	// Collateral are the other checks that failed.
	Collateral []CheckRef `json:"collateral,omitempty"`
}

// CheckRef names one check of one scenario by its ID, with its title and
// its verdict.
type CheckRef struct {
	Scenario string  `json:"scenario"`
	ID       string  `json:"id"`
	Check    string  `json:"check"` // the title
	Verdict  Verdict `json:"verdict,omitempty"`
}

func (c CheckRef) String() string { return c.Scenario + "/" + c.Check }

// Caught reports whether every must-fail check failed.
func (c *Catch) Caught() bool {
	for _, m := range c.MustFail {
		if m.Verdict != Fail {
			return false
		}
	}
	return len(c.MustFail) > 0
}

// Judge fills the verdicts of c.MustFail from run and lists the other
// failing checks as collateral.
func (c *Catch) Judge(run *Run) {
	type key struct{ scenario, id string }
	must := map[key]int{}
	for i := range c.MustFail {
		c.MustFail[i].Verdict = ""
		must[key{c.MustFail[i].Scenario, c.MustFail[i].ID}] = i
	}
	c.Collateral = nil
	for _, sc := range run.Scenarios {
		for _, ch := range sc.Checks {
			ref := CheckRef{Scenario: sc.Name, ID: ch.ID, Check: ch.Name}
			if i, ok := must[key{sc.Name, ch.ID}]; ok {
				c.MustFail[i].Verdict = ch.Verdict
				c.MustFail[i].Check = ch.Name
			} else if ch.Verdict == Fail {
				ref.Verdict = Fail
				c.Collateral = append(c.Collateral, ref)
			}
		}
	}
}

// Shard is the part of a selection one run ran: shard Index (1-based) of
// Total, the selection split round-robin in its order.
type Shard struct {
	Index int      `json:"index"`
	Total int      `json:"total"`
	Of    []string `json:"of"` // the whole selection that was split (scenarios or matrix rows)
}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Total) }

// Part is one run merged into another.
type Part struct {
	ID        string    `json:"id"`
	Source    string    `json:"source,omitempty"` // the report.json it was read from
	Seed      int64     `json:"seed"`
	Shard     *Shard    `json:"shard,omitempty"`
	Started   time.Time `json:"started"`
	Duration  Seconds   `json:"duration_s"`
	Scenarios []string  `json:"scenarios"`
}

// Scenario is one scenario's outcome.
type Scenario struct {
	Name     string         `json:"name"`
	Params   map[string]any `json:"params,omitempty"`
	Seed     int64          `json:"seed"`
	Started  time.Time      `json:"started"`
	Duration Seconds        `json:"duration_s"`
	Checks   []Check        `json:"checks"`
	Faults   []FaultEvent   `json:"faults,omitempty"`
	Series   []Series       `json:"series,omitempty"`
	Markers  []Marker       `json:"markers,omitempty"`
	Error    string         `json:"error,omitempty"` // setup or harness error (the scenario's checks are then incomplete)
	Logs     []string       `json:"logs,omitempty"`  // artifact paths (target stdout/stderr, ...)
}

// Check is one assertion with its numbers.
type Check struct {
	// ID is the check's declared identity ("churn.fds-flat"): tools key
	// on it; Name is the title people read and may change.
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	Measured    string  `json:"measured"`       // human-readable measured value, e.g. "1.23 s", "+412 KiB/cycle"
	Budget      string  `json:"budget"`         // e.g. "<= 1.5 s", "0 fds/cycle"
	Value       float64 `json:"value"`          // the measured number (unit below)
	Limit       float64 `json:"limit"`          // the budget number
	Unit        string  `json:"unit,omitempty"` // s, fds, bytes, bytes/cycle, count ...
	Verdict     Verdict `json:"verdict"`
	Explanation string  `json:"explanation,omitempty"` // why, with numbers
	Series      string  `json:"series,omitempty"`      // name of the series that backs it, if any
	// Objects are what a failing leak or linger check found held, by
	// signature, largest first (forensics of the target's process tree):
	// for tools; the explanation names the top ones in words.
	Objects []Object `json:"objects,omitempty"`
}

// Object is one group of objects a leak or linger check found: fds,
// mapped files, threads, child processes or files of one signature.
type Object struct {
	// Kind is "fd", "map", "thread", "proc", "file" or "dir".
	Kind string `json:"kind"`
	// Signature describes the objects with ids as placeholders, e.g.
	// "fd file <base>/git_sources/<id>/objects/pack/pack-<hex>.pack (deleted)".
	Signature string `json:"signature"`
	// Count is how many there are at the check's point; Growth how many
	// more than at its baseline (Count when the check has none).
	Count  int `json:"count"`
	Growth int `json:"growth"`
	// Example is one concrete object, e.g. "fd 11 file /tmp/x/…/pack-09b9….pack (deleted)".
	Example string `json:"example"`
	// Scope is the deleted scope the objects belong to ("" when not
	// attributed to one).
	Scope string `json:"scope,omitempty"`
}

// FaultEvent records a fault going on or off.
type FaultEvent struct {
	At     Seconds `json:"at_s"` // since scenario start
	Host   string  `json:"host"`
	Repo   string  `json:"repo,omitempty"`
	Fault  string  `json:"fault"`
	Action string  `json:"action"` // FaultInject or FaultRecover
}

// Fault actions.
const (
	FaultInject  = "inject"
	FaultRecover = "recover"
)

// Marker labels a point of a scenario's timeline: cycle boundaries,
// phases, soak steps, faults going on and off. Fault windows are drawn
// from FaultEvents, never parsed back from a marker's label.
type Marker struct {
	At    Seconds `json:"at_s"`
	Label string  `json:"label"` // e.g. "cycle 3", "blackhole h1"
	Kind  string  `json:"kind"`  // one of the Marker* kinds
}

// Marker kinds.
const (
	MarkerCycle    = "cycle"     // a cycle (churn) or round (repeat-sync) starts
	MarkerPhase    = "phase"     // a phase of a scenario starts
	MarkerStep     = "step"      // a soak step ran
	MarkerFaultOn  = "fault-on"  // a fault was injected (also a FaultEvent)
	MarkerFaultOff = "fault-off" // a fault was recovered (also a FaultEvent)
)

// Series is a sampled or per-cycle metric.
type Series struct {
	Name   string `json:"name"` // e.g. "fds per cycle", "scopes served"
	Metric string `json:"metric"`
	Unit   string `json:"unit,omitempty"`
	XUnit  string `json:"x_unit"` // "s" (time since start) or "cycle"
	// Per names one step of a per-cycle series in its own terms ("round"
	// in repeat-sync, "window" in a soak); empty means "cycle".
	Per    string  `json:"per,omitempty"`
	Points []Point `json:"points"`
	Fit    *Fit    `json:"fit,omitempty"`
}

// Point is one (x, y).
type Point struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// Fit is a fitted trend drawn over a series: y = Intercept + Slope*x for x
// in [FromX, ToX], with the slope's confidence interval.
type Fit struct {
	Method    string  `json:"method"` // theil-sen, least-squares
	Slope     float64 `json:"slope"`
	Intercept float64 `json:"intercept"`
	Low       float64 `json:"low"`  // slope CI lower bound
	High      float64 `json:"high"` // slope CI upper bound
	FromX     float64 `json:"from_x"`
	ToX       float64 `json:"to_x"`
	Budget    float64 `json:"budget"` // per-x budget
}

// Seconds is a duration in seconds (float) in JSON.
type Seconds float64

// Secs converts a duration.
func Secs(d time.Duration) Seconds { return Seconds(d.Seconds()) }

// Verdict of a scenario: fail if any check failed (a verdict on the
// target, even when the harness also hit an error later); error if the
// scenario or a check errored; pass if at least one check passed; skip if
// CycleValues returns the values of s's per-cycle series (one step is a
// cycle: x unit "cycle", Per empty or "cycle"), keyed by metric.
func (s *Scenario) CycleValues() map[string][]float64 {
	out := map[string][]float64{}
	for _, ser := range s.Series {
		if ser.XUnit != "cycle" || (ser.Per != "" && ser.Per != "cycle") {
			continue
		}
		for _, p := range ser.Points {
			out[ser.Metric] = append(out[ser.Metric], p.Y)
		}
	}
	return out
}

// every check was skipped.
func (s *Scenario) Verdict() Verdict {
	passed, errored := false, s.Error != ""
	for _, c := range s.Checks {
		switch c.Verdict {
		case Fail:
			return Fail
		case Error:
			errored = true
		case Pass:
			passed = true
		}
	}
	switch {
	case errored:
		return Error
	case passed:
		return Pass
	}
	return Skip
}

// StrictPrefix starts the explanation of a check that --strict turned
// from skip into fail.
const StrictPrefix = "--strict: a skipped check fails: "

// The check Strict adds to a scenario that recorded none (declared among
// the runner's checks in internal/gates).
const (
	StrictNoCheckID    = "runner.no-check"
	StrictNoCheckTitle = "(scenario)"
)

// Strict turns every skipped check of the scenario into a failure (the
// reason kept after StrictPrefix), and a scenario that recorded no check
// and no error into a failed one: under --strict a gate that cannot see
// its input fails instead of passing quietly.
func (s *Scenario) Strict() {
	for i := range s.Checks {
		if c := &s.Checks[i]; c.Verdict == Skip {
			c.Verdict = Fail
			c.Explanation = StrictPrefix + c.Explanation
		}
	}
	if len(s.Checks) == 0 && s.Error == "" {
		s.Checks = append(s.Checks, Check{ID: StrictNoCheckID, Name: StrictNoCheckTitle, Measured: "no check", Budget: ">= 1 check", Verdict: Fail,
			Explanation: StrictPrefix + "the scenario recorded no check"})
	}
}

// Verdict of a run: the worst scenario verdict (fail > error > pass > skip).
func (r *Run) Verdict() Verdict {
	v := Skip
	for _, s := range r.Scenarios {
		switch sv := s.Verdict(); {
		case sv == Fail:
			return Fail
		case sv == Error:
			v = Error
		case sv == Pass && v == Skip:
			v = Pass
		}
	}
	return v
}

// Save writes r as indented JSON.
func (r *Run) Save(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("result: encode run %s: %w", r.ID, err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("result: write %s: %w", path, err)
	}
	return nil
}

// Load reads a report.json.
func Load(path string) (*Run, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("result: read %s: %w", path, err)
	}
	var r Run
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("result: parse %s: %w", path, err)
	}
	return &r, nil
}
