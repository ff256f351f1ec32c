package gates

import (
	"flag"
	"fmt"
	"sync"
	"time"

	"github.com/gitchaos/gitchaos/harness/result"
)

// recorder is the part of a running scenario that writes its record:
// checks (each a declared Check of the scenario's gate or of the runner),
// series and markers. Its methods are safe for concurrent use.
type recorder struct {
	gate  string // the gate whose checks it records
	start time.Time
	mu    sync.Mutex
	res   *result.Scenario
}

func newRecorder(gate string, start time.Time, res *result.Scenario) *recorder {
	return &recorder{gate: gate, start: start, res: res}
}

// LE records "value <= limit" in c's unit.
func (r *recorder) LE(c *Check, value, limit float64, explain string) bool {
	return r.cmp(c, value, limit, "<= ", value <= limit, explain)
}

// GE records "value >= limit" in c's unit.
func (r *recorder) GE(c *Check, value, limit float64, explain string) bool {
	return r.cmp(c, value, limit, ">= ", value >= limit, explain)
}

// EQ records "value == limit" in c's unit.
func (r *recorder) EQ(c *Check, value, limit float64, explain string) bool {
	return r.cmp(c, value, limit, "== ", value == limit, explain)
}

// True records a yes/no check; measured is what was seen, budget what
// was wanted.
func (r *recorder) True(c *Check, ok bool, measured, budget, explain string) bool {
	v, val := result.Fail, 0.0
	if ok {
		v, val = result.Pass, 1
	}
	r.Add(c, result.Check{Measured: measured, Budget: budget, Value: val, Limit: 1, Verdict: v, Explanation: explain})
	return ok
}

// Skip records that c could not run on this target, with the reason.
func (r *recorder) Skip(c *Check, reason string) {
	r.Add(c, result.Check{Measured: "n/a", Budget: "n/a", Verdict: result.Skip, Explanation: reason})
}

// Error records that the harness could not judge c.
func (r *recorder) Error(c *Check, err error) {
	r.Add(c, result.Check{Verdict: result.Error, Explanation: err.Error()})
}

func (r *recorder) cmp(c *Check, value, limit float64, op string, ok bool, explain string) bool {
	v := result.Pass
	if !ok {
		v = result.Fail
	}
	r.Add(c, result.Check{
		Measured: result.FormatValue(value, c.Unit), Budget: op + result.FormatValue(limit, c.Unit),
		Value: value, Limit: limit, Unit: c.Unit, Verdict: v, Explanation: explain,
	})
	return ok
}

// Add records rc, a check built elsewhere (a flatness trend's), as c: its
// ID and title are c's. A check that is not declared for this gate (or
// for the runner) panics under go test and is recorded as an error
// otherwise.
func (r *recorder) Add(c *Check, rc result.Check) {
	if why := r.undeclared(c); why != "" {
		if underGoTest() {
			panic("gates: " + why)
		}
		rc = result.Check{Verdict: result.Error, Explanation: why}
		if c != nil {
			rc.Name, rc.ID = c.Title, c.ID
		}
	} else {
		rc.Name, rc.ID = c.Title, c.ID
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Checks = append(r.res.Checks, rc)
}

// underGoTest reports whether the process is a go test binary (its flags
// are registered), without linking package testing into the release
// binary.
func underGoTest() bool { return flag.Lookup("test.v") != nil }

// undeclared says why c may not be recorded by this gate ("" when it may).
func (r *recorder) undeclared(c *Check) string {
	switch {
	case c == nil:
		return fmt.Sprintf("gate %s recorded a check with no declaration (a metric without a declared check?)", r.gate)
	case byID[c.ID] != c:
		return fmt.Sprintf("gate %s recorded check %s (%q), which is not declared", r.gate, c.ID, c.Title)
	case c.Gate != r.gate && c.Gate != "runner":
		return fmt.Sprintf("gate %s recorded check %s, which gate %s declares", r.gate, c.ID, c.Gate)
	}
	return ""
}

// Series records a series.
func (r *recorder) Series(series result.Series) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Series = append(r.res.Series, series)
}

// Mark adds a marker (cycle, fault-on, fault-off, phase) at the time since
// the scenario started.
func (r *recorder) Mark(kind, label string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Markers = append(r.res.Markers, result.Marker{At: result.Secs(time.Since(r.start)), Label: label, Kind: kind})
}
