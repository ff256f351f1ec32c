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
	if o.Window <= 0 {
		o.Window = DefaultSoakWindow
	}
	if o.Hosts == 0 {
		o.Hosts = defaultSoakHosts
	}
	if o.Baseline == 0 {
		o.Baseline = defaultSoakBaseline
	}
	if o.Scopes > 0 {
		o.Baseline = o.Scopes
	}
	if o.Pool == 0 {
		o.Pool = defaultSoakPool
	}
	if o.MaxExtra == 0 {
		o.MaxExtra = defaultSoakMaxExtra
	}
	if o.SampleInterval <= 0 {
		o.SampleInterval = defaultSoakInterval
	}
	if o.StepsPerWindow == 0 {
		o.StepsPerWindow = DefaultStepsPerWindow(o.Window)
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
// applied.
func (o *SoakOptions) Validate() error {
	c := *o
	c.soakDefaults()
	return c.validate()
}

func (o *SoakOptions) validate() error {
	var errs []error
	if err := o.Options.Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.Duration <= 0 {
		errs = append(errs, fmt.Errorf("soak: duration %v: must be > 0", o.Duration))
	}
	if o.Window < time.Second {
		errs = append(errs, fmt.Errorf("soak: window %v: must be >= 1s", o.Window))
	}
	if o.Duration > 0 && o.Duration < o.Window {
		errs = append(errs, fmt.Errorf("soak: duration %v is shorter than one window (%v)", o.Duration, o.Window))
	}
	if o.Hosts < 1 || o.Hosts > 3 {
		errs = append(errs, fmt.Errorf("soak: hosts %d: want 1 to 3", o.Hosts))
	}
	if o.Baseline < 1 || o.Pool < 1 || o.MaxExtra < 1 {
		errs = append(errs, fmt.Errorf("soak: baseline %d, pool %d, max extra %d: each must be >= 1", o.Baseline, o.Pool, o.MaxExtra))
	}
	if o.StepsPerWindow < 1 {
		errs = append(errs, fmt.Errorf("soak: steps per window %d: must be >= 1", o.StepsPerWindow))
	}
	if o.SampleInterval < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("soak: sample interval %v: must be >= 10ms", o.SampleInterval))
	}
	return errors.Join(errs...)
}
