package gates

import (
	"errors"
	"fmt"
	"time"

	"github.com/gitchaos/gitchaos/harness/probe"
	"github.com/gitchaos/gitchaos/harness/result"
)

// SoakOptions configure RunSoak: the suite options (target, testbed,
// settings, seed, logger) plus the soak's length and shape.
type SoakOptions struct {
	Options
	SoakParams
	// Progress, if set, is called after each timeline sample (from one
	// goroutine, never concurrently) with the soak's status so far.
	Progress func(SoakStatus)
	// Executed, if set, is called once at the end with the executed
	// schedule (gitchaos soak writes it as schedule.yaml), its failed
	// checks filled in. Not called when setup failed.
	Executed func(*Schedule)
}

// SoakParams size a soak; zero fields take their defaults.
type SoakParams struct {
	// Duration of the soak (required, >= Window).
	Duration time.Duration
	// Window between quiet points (default 1 min): at the end of each
	// window every fault is recovered, the extra scopes are deleted and one
	// settled sample is taken; those per-window values are judged for
	// flatness like a churn gate's cycles. Duration/Window is the number of
	// windows.
	Window time.Duration
	// StepsPerWindow is how many planned steps each window runs (default
	// DefaultStepsPerWindow(Window)). The schedule is logical: a window
	// ends after its steps, not at a wall-clock time, and a fault lasts a
	// number of steps, so the same seed and options run the same steps
	// whatever the machine's speed; Window only paces them (the pauses
	// between steps are fractions of it) and the wall-clock length of a
	// soak is about Duration on an unloaded machine.
	StepsPerWindow int
	// Hosts in the testbed (default 2, at most 3).
	Hosts int
	// Baseline scopes kept for the whole soak (default 3; Options.Scopes
	// overrides it).
	Baseline int
	// Pool repos per host that extra scopes use (default 6).
	Pool int
	// MaxExtra caps the extra scopes alive at once (default 24).
	MaxExtra int
	// Budgets per window override flat's default per-cycle budgets
	// (metric name -> budget).
	Budgets map[string]float64
	// TotalBudgets bound each metric's growth over the whole soak (the
	// floor of the last windows minus that of the first): a per-window
	// budget alone tolerates growth proportional to the soak's length.
	// Nil means DefaultSoakTotalBudgets; a metric without an entry is not
	// judged in total.
	TotalBudgets map[string]float64
	// SampleInterval of the timeline (default 500 ms).
	SampleInterval time.Duration
}

// SoakStatus is a soak's progress so far.
type SoakStatus struct {
	Elapsed  time.Duration
	Duration time.Duration
	Steps    int                // steps executed
	Windows  int                // quiet points reached and judged
	Values   map[string]float64 // the latest timeline sample (fds, rss_bytes, goroutines, heap_bytes)
	Verdict  result.Verdict     // pass (so far), fail, or skip before enough windows
	Failing  []string           // what fails so far, with numbers
	Last     string             // the last step
}

// DefaultSoakTotalBudgets bound heap and RSS growth over a whole soak,
// however long: 16 MiB of heap, 64 MiB of RSS (an 8 h soak of 1-minute
// windows at the per-window RSS budget would tolerate 240 MiB).
var DefaultSoakTotalBudgets = map[string]float64{probe.Heap: 16 << 20, probe.RSS: 64 << 20}

func (o *SoakOptions) soakDefaults() {
	o.Options.defaults()
	o.Kind = "soak"
	if o.Scopes > 0 {
		o.Baseline = o.Scopes
	}
	o.SoakParams.defaults()
}

// defaults fills the zero fields of p (Duration has none).
func (p *SoakParams) defaults() {
	if p.Window <= 0 {
		p.Window = DefaultSoakWindow
	}
	if p.Hosts == 0 {
		p.Hosts = defaultSoakHosts
	}
	if p.Baseline == 0 {
		p.Baseline = defaultSoakBaseline
	}
	if p.Pool == 0 {
		p.Pool = defaultSoakPool
	}
	if p.MaxExtra == 0 {
		p.MaxExtra = defaultSoakMaxExtra
	}
	if p.SampleInterval <= 0 {
		p.SampleInterval = defaultSoakInterval
	}
	if p.StepsPerWindow == 0 {
		p.StepsPerWindow = DefaultStepsPerWindow(p.Window)
	}
}

// DefaultStepsPerWindow is about as many steps as a window's length holds
// at the plan's mean pause (2.5% of a window, 20 ms to 2.4 s) plus 10 ms per
// step: 36 for windows up to 96 s, fewer per minute beyond.
func DefaultStepsPerWindow(window time.Duration) int {
	pause := min(max(time.Duration(float64(window)*0.025), 20*time.Millisecond), 2400*time.Millisecond)
	return max(1, int(window/(pause+10*time.Millisecond)))
}

// Validate reports what is wrong with the soak options, their defaults
// applied: the run's options (target, testbed, engine) and the soak's
// params; RunSoak starts nothing when it fails.
func (o *SoakOptions) Validate() error {
	c := *o
	c.soakDefaults()
	return c.validate()
}

// validate is Validate on options whose defaults are applied.
func (o *SoakOptions) validate() error {
	return errors.Join(o.Options.validateRun(), o.SoakParams.validate())
}

// Validate reports what is wrong with the soak's params, their defaults
// applied (the same as SoakOptions.Validate reports of them).
func (p SoakParams) Validate() error {
	p.defaults()
	return p.validate()
}

// validate is Validate on params whose defaults are applied. Fields are
// named as gitchaos soak's flags spell them.
func (p *SoakParams) validate() error {
	var errs []error
	if p.Duration <= 0 {
		errs = append(errs, fmt.Errorf("soak: duration %v: must be > 0", p.Duration))
	}
	if p.Window < time.Second {
		errs = append(errs, fmt.Errorf("soak: window %v: must be >= 1s", p.Window))
	}
	if p.Duration > 0 && p.Duration < p.Window {
		errs = append(errs, fmt.Errorf("soak: duration %v is shorter than one window (%v)", p.Duration, p.Window))
	}
	if p.Hosts < 1 || p.Hosts > 3 {
		errs = append(errs, fmt.Errorf("soak: hosts %d: want 1 to 3", p.Hosts))
	}
	if p.Baseline < 1 || p.Pool < 1 || p.MaxExtra < 1 {
		errs = append(errs, fmt.Errorf("soak: baseline %d, pool %d, max extra %d: each must be >= 1", p.Baseline, p.Pool, p.MaxExtra))
	}
	if p.StepsPerWindow < 1 {
		errs = append(errs, fmt.Errorf("soak: steps per window %d: must be >= 1", p.StepsPerWindow))
	}
	if p.SampleInterval < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("soak: sample interval %v: must be >= 10ms", p.SampleInterval))
	}
	c := paramCheck{gate: "soak"}
	c.budgets("budgets", p.Budgets)
	c.budgets("total_budgets", p.TotalBudgets)
	return errors.Join(append(errs, c.err())...)
}
