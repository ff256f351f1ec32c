package compare

import (
	"fmt"
	"math"
	"slices"

	"github.com/gitchaos/gitchaos/harness/result"
)

// Verdict is the outcome of comparing one check between base and head.
type Verdict string

// Verdicts, in the order a report lists them.
const (
	Broken       Verdict = "broken"        // passed on base, fails on head, decisively
	Worse        Verdict = "worse"         // the value moved the worse way, significantly and past the floor
	Fixed        Verdict = "fixed"         // failed on base, passes on head, decisively
	Better       Verdict = "better"        // the value moved the better way, significantly and past the floor
	Undecided    Verdict = "undecided"     // more runs needed (Outcome.MoreRuns says how many)
	KnownFailure Verdict = "known failure" // fails on both sides, its value not moved
	Same         Verdict = "same"          // no significant difference past the floor
	Skipped      Verdict = "skipped"       // no run on one side gave a pass or a fail
)

// Verdicts lists every verdict in report order.
func Verdicts() []Verdict {
	return []Verdict{Broken, Worse, Fixed, Better, Undecided, KnownFailure, Same, Skipped}
}

// Fails reports whether v fails a comparison: broken and worse always,
// undecided when failOnUndecided.
func (v Verdict) Fails(failOnUndecided bool) bool {
	return v == Broken || v == Worse || (failOnUndecided && v == Undecided)
}

// Observation is one run's outcome of a check.
type Observation struct {
	Value   float64
	Verdict result.Verdict
	// NoValue: the run's verdict counts, its value does not (it is in
	// another unit than the check's, e.g. a failed timing recorded as a
	// yes/no).
	NoValue bool
}

// Check is one check's observations on both sides.
type Check struct {
	Key      string // scenario + "/" + check identity
	Scenario string
	ID       string // the check's declared id ("churn.fds-flat"); "" in reports written before ids
	Name     string // the check's title
	Unit     string
	Budget   string  // budget text, for the direction (DirectionOf)
	Limit    float64 // budget number (the "==" direction measures distance from it)
	Base     []Observation
	Head     []Observation
}

// Options tune Compare; the zero value is the defaults.
type Options struct {
	// Alpha is the family-wise error rate across the checks compared
	// (Holm); 0: 0.05.
	Alpha float64
	// Level is the confidence level of the shift's interval; 0: 0.95.
	Level float64
	// Unanimous is the runs per side from which "passed in every base run,
	// failed in every head run" (or the reverse) is decisive by itself;
	// 0: 3.
	Unanimous int
	// Power is the chance a planned number of runs should have to detect
	// a floor-sized shift; 0: 0.8.
	Power float64
	// Floor gives the practical floor of a unit; nil: Floor. A bytes
	// floor is then lowered to the check's budget, at least 1 KiB.
	Floor func(unit string) float64
	// RelFloor raises a check's floor to this share of the magnitude of
	// its base median (a 5% slower boot of 2 s is "same", as a 10 ms one
	// is); 0: 0.05, negative: none.
	RelFloor float64
	// MaxRuns caps the runs per side a plan asks for; 0: 1000.
	MaxRuns int
}

func (o Options) withDefaults() Options {
	if o.Alpha == 0 {
		o.Alpha = 0.05
	}
	if o.Level == 0 {
		o.Level = 0.95
	}
	if o.Unanimous == 0 {
		o.Unanimous = 3
	}
	if o.Power == 0 {
		o.Power = 0.8
	}
	if o.Floor == nil {
		o.Floor = Floor
	}
	if o.RelFloor == 0 {
		o.RelFloor = 0.05
	}
	if o.MaxRuns == 0 {
		o.MaxRuns = 1000
	}
	return o
}

// Side summarizes one side's runs of a check. Runs counts the runs that
// passed or failed; Skipped and Errored those left out. Values (and the
// median, min and max) are those of the runs that passed or failed with
// a value in the check's unit.
type Side struct {
	Runs    int       `json:"runs"`
	Pass    int       `json:"pass"`
	Fail    int       `json:"fail"`
	Skipped int       `json:"skipped,omitempty"`
	Errored int       `json:"errored,omitempty"`
	Median  float64   `json:"median"`
	Min     float64   `json:"min"`
	Max     float64   `json:"max"`
	Values  []float64 `json:"values"`
}

// RateTest is the Fisher exact test on the pass and fail counts.
type RateTest struct {
	P         float64 `json:"p"`
	MinP      float64 `json:"min_p"`
	PAdjusted float64 `json:"p_adjusted"` // Holm across the comparison; 1 when MinP > Alpha
}

// Outcome is one check compared.
type Outcome struct {
	Key       string    `json:"key"`
	Scenario  string    `json:"scenario"`
	ID        string    `json:"id,omitempty"`
	Check     string    `json:"check"`
	Unit      string    `json:"unit,omitempty"`
	Direction Direction `json:"direction"`
	Base      Side      `json:"base"`
	Head      Side      `json:"head"`
	// Shift is head − base (Hodges–Lehmann, Moses interval at Level); of
	// the distances from the limit when Direction is AwayIsWorse.
	Shift *Shift    `json:"shift,omitempty"`
	Level float64   `json:"level"`
	Floor float64   `json:"floor"`
	Rank  *RankTest `json:"rank,omitempty"`
	// PAdjusted is the rank test's p-value after Holm across the
	// comparison; 1 when the test could not reach Alpha with these runs
	// (MinP > Alpha) and so was left out of the correction.
	PAdjusted float64   `json:"p_adjusted"`
	Rate      *RateTest `json:"rate,omitempty"`
	Verdict   Verdict   `json:"verdict"`
	// MoreRuns, when undecided, estimates the further runs per side that
	// would likely decide (capped at Options.MaxRuns).
	MoreRuns int    `json:"more_runs,omitempty"`
	Reason   string `json:"reason"`
}

// Compare compares every check between base and head and returns one
// outcome per check, in the order given. The rules are the package doc's.
func Compare(checks []Check, opt Options) []Outcome {
	opt = opt.withDefaults()
	outs := make([]Outcome, len(checks))
	type test struct {
		i    int
		rate bool
		p    float64
	}
	var family []test
	comparable := 0
	for i, c := range checks {
		o := &outs[i]
		o.Key, o.Scenario, o.ID, o.Check, o.Unit = c.Key, c.Scenario, c.ID, c.Name, c.Unit
		o.Direction = DirectionOf(c.Budget)
		o.Level, o.Floor, o.PAdjusted = opt.Level, budgetFloor(opt.Floor(c.Unit), c.Unit, c.Limit), 1
		o.Base = side(c.Base)
		o.Head = side(c.Head)
		if o.Base.Runs == 0 || o.Head.Runs == 0 {
			continue
		}
		comparable++
		if o.Direction == NoDirection || len(o.Base.Values) == 0 || len(o.Head.Values) == 0 {
			o.Floor = 0
		} else {
			o.valueTest(c, opt)
			if o.Rank.MinP <= opt.Alpha {
				family = append(family, test{i: i, p: o.Rank.P})
			}
		}
		if o.Base.Fail*o.Head.Runs != o.Head.Fail*o.Base.Runs {

			p, minP := Fisher(o.Base.Pass, o.Base.Fail, o.Head.Pass, o.Head.Fail)
			o.Rate = &RateTest{P: p, MinP: minP, PAdjusted: 1}
			if minP <= opt.Alpha {
				family = append(family, test{i: i, rate: true, p: p})
			}
		}
	}
	ps := make([]float64, len(family))
	for k, t := range family {
		ps[k] = t.p
	}
	for k, adj := range Holm(ps) {
		if t := family[k]; t.rate {
			outs[t.i].Rate.PAdjusted = adj
		} else {
			outs[t.i].PAdjusted = adj
		}
	}
	planLevel := opt.Alpha / float64(max(1, comparable))
	for i, c := range checks {
		decide(&outs[i], c, opt, planLevel)
	}
	return outs
}

// valueTest runs the rank test and the shift on the check's values.
func (o *Outcome) valueTest(c Check, opt Options) {
	bv, hv := measure(o.Base.Values, o.Direction, c.Limit), measure(o.Head.Values, o.Direction, c.Limit)
	if opt.RelFloor > 0 {
		o.Floor = max(o.Floor, opt.RelFloor*math.Abs(Median(bv)))
	}
	rank := MannWhitney(bv, hv)
	shift := HodgesLehmann(bv, hv, opt.Level)
	o.Rank, o.Shift = &rank, &shift
}

func side(obs []Observation) Side {
	var s Side
	for _, o := range obs {
		switch o.Verdict {
		case result.Pass:
			s.Pass++
		case result.Fail:
			s.Fail++
		case result.Skip:
			s.Skipped++
			continue
		default:
			s.Errored++
			continue
		}
		if !o.NoValue {
			s.Values = append(s.Values, o.Value)
		}
	}
	s.Runs = s.Pass + s.Fail
	if len(s.Values) > 0 {
		s.Median = Median(s.Values)
		s.Min, s.Max = slices.Min(s.Values), slices.Max(s.Values)
	}
	return s
}

// measure returns the values compared: as measured, or their distances
// from the limit for an "==" budget.
func measure(vs []float64, d Direction, limit float64) []float64 {
	if d != AwayIsWorse {
		return vs
	}
	out := make([]float64, len(vs))
	for i, v := range vs {
		out[i] = math.Abs(v - limit)
	}
	return out
}

func decide(o *Outcome, c Check, opt Options, planLevel float64) {
	nb, nh := o.Base.Runs, o.Head.Runs
	if nb == 0 || nh == 0 {
		o.Verdict = Skipped
		o.Reason = fmt.Sprintf("no pass or fail to compare on one side: base %d passed or failed, %d skipped, %d errored; head %d, %d skipped, %d errored",
			nb, o.Base.Skipped, o.Base.Errored, nh, o.Head.Skipped, o.Head.Errored)
		return
	}
	bf, hf := o.Base.Fail, o.Head.Fail
	rates := fmt.Sprintf("failed in %d of %d base runs, %d of %d head runs", bf, nb, hf, nh)
	rb, rh := float64(bf)/float64(nb), float64(hf)/float64(nh)
	enough := min(nb, nh) >= opt.Unanimous
	rateSig := o.Rate != nil && o.Rate.PAdjusted < opt.Alpha
	switch {
	case rh > rb && bf == 0 && hf == nh && enough:
		o.Verdict, o.Reason = Broken, rates+fmt.Sprintf(" (unanimous, >= %d runs a side)", opt.Unanimous)
		return
	case rh < rb && hf == 0 && bf == nb && enough:
		o.Verdict, o.Reason = Fixed, rates+fmt.Sprintf(" (unanimous, >= %d runs a side)", opt.Unanimous)
		return
	case rh > rb && rateSig:
		o.Verdict, o.Reason = Broken, rates+fmt.Sprintf(" (Fisher p %.3g, Holm %.3g)", o.Rate.P, o.Rate.PAdjusted)
		return
	case rh < rb && rateSig:
		o.Verdict, o.Reason = Fixed, rates+fmt.Sprintf(" (Fisher p %.3g, Holm %.3g)", o.Rate.P, o.Rate.PAdjusted)
		return
	}
	known := 2*bf >= nb && 2*hf >= nh
	if rb != rh && !known {
		o.Verdict = Undecided
		o.MoreRuns = rateRuns(o.Base, o.Head, opt, planLevel)
		o.Reason = rates + ", not yet decisive" + o.plan(opt)
		return
	}

	if o.Rank == nil {
		why := "the budget states no direction (a yes/no check): pass and fail only"
		if o.Direction != NoDirection {
			why = "no value in the check's unit on one side: pass and fail only"
		}
		if known {
			o.Verdict, o.Reason = KnownFailure, rates+"; "+why
			return
		}
		o.Verdict, o.Reason = Same, rates+"; "+why
		return
	}
	sh := *o.Shift
	sig := o.PAdjusted < opt.Alpha
	moved := fmt.Sprintf("head − base %s (%.3g%% CI %s..%s), p %.3g (Holm %s)",
		result.FormatSigned(sh.Estimate, o.Unit), sh.Confidence*100, result.FormatSigned(sh.Low, o.Unit), result.FormatSigned(sh.High, o.Unit),
		o.Rank.P, o.holm(opt.Alpha))
	if sig && math.Abs(sh.Estimate) > o.Floor {
		worse := sh.Estimate > 0
		if o.Direction == LowerIsWorse {
			worse = !worse
		}
		o.Verdict = Better
		if worse {
			o.Verdict = Worse
		}
		o.Reason = moved + ", past the floor " + result.FormatBudget(o.Floor, o.Unit)
		if known {
			o.Reason += "; " + rates
		}
		return
	}
	bv, hv := measure(o.Base.Values, o.Direction, c.Limit), measure(o.Head.Values, o.Direction, c.Limit)
	if known {
		// A check failing on both sides can still get better or worse:
		// a shift past the floor that is not yet significant asks for
		// runs like any other.
		if !sig && math.Abs(sh.Estimate) > o.Floor {
			if need := planRuns(spread(bv, hv), o.Floor, planLevel, opt); min(nb, nh) < need {
				o.Verdict = Undecided
				o.MoreRuns = need - min(nb, nh)
				o.Reason = rates + "; value moved past the floor " + result.FormatBudget(o.Floor, o.Unit) + ", not yet significant: " + moved + o.plan(opt)
				return
			}
		}
		o.Verdict, o.Reason = KnownFailure, rates+"; value not moved: "+moved
		return
	}
	o.Verdict = Same
	switch {
	case allEqual(bv, hv):
		o.Reason = "the same value in every run: " + result.FormatValue(o.Base.Values[0], o.Unit)
	case sig:
		o.Reason = moved + ", within the floor " + result.FormatBudget(o.Floor, o.Unit)
	case sh.Confidence >= opt.Level && sh.Low >= -o.Floor && sh.High <= o.Floor:
		o.Reason = moved + ", interval within ±" + result.FormatBudget(o.Floor, o.Unit)
	default:
		need := planRuns(spread(bv, hv), o.Floor, planLevel, opt)
		if min(nb, nh) >= need {
			o.Reason = moved + fmt.Sprintf(", and %d runs a side would likely have seen a change of the floor %s", need, result.FormatBudget(o.Floor, o.Unit))
			return
		}
		o.Verdict = Undecided
		o.MoreRuns = need - min(nb, nh)
		o.Reason = moved + o.plan(opt)
	}
}

func (o *Outcome) holm(alpha float64) string {
	if o.Rank.MinP > alpha {
		return fmt.Sprintf("n/a: cannot reach significance with %d+%d runs", o.Base.Runs, o.Head.Runs)
	}
	return fmt.Sprintf("%.3g", o.PAdjusted)
}

func (o *Outcome) plan(opt Options) string {
	if o.MoreRuns >= opt.MaxRuns {
		return fmt.Sprintf("; more than %d more runs a side needed", opt.MaxRuns)
	}
	return fmt.Sprintf("; about %d more run(s) a side would likely decide", o.MoreRuns)
}

func allEqual(a, b []float64) bool {
	for _, v := range append(slices.Clone(a), b...) {
		if v != a[0] {
			return false
		}
	}
	return true
}

// spread is the pooled robust standard deviation of the two sides: each
// side's median absolute deviation from its own median, ×1.4826 (the
// normal's standard deviation), pooled by degrees of freedom.
func spread(a, b []float64) float64 {
	mad := func(xs []float64) float64 {
		m := Median(xs)
		d := make([]float64, len(xs))
		for i, x := range xs {
			d[i] = math.Abs(x - m)
		}
		return 1.4826 * Median(d)
	}
	na, nb := float64(len(a)), float64(len(b))
	if na+nb <= 2 {
		return 0
	}
	sa, sb := mad(a), mad(b)
	return math.Sqrt(((na-1)*sa*sa + (nb-1)*sb*sb) / (na + nb - 2))
}

// planRuns estimates the runs per side at which the rank test, at level,
// would detect a shift of delta with the wanted power: the two-sample
// normal formula 2(z(1−level/2) + z(power))²σ²/δ², divided by 3/π (the
// rank test's efficiency against the t test on normal data), and never
// fewer than exact rank test needs to reach level at all. With delta 0
// (a unit without a floor) the shift to detect is one σ. Capped at
// opt.MaxRuns.
func planRuns(sigma, delta, level float64, opt Options) int {
	need := minExactRuns(level, opt.MaxRuns)
	if delta <= 0 {
		delta = sigma
	}
	if sigma > 0 && delta > 0 {
		z := zQuantile(1-level/2) + zQuantile(opt.Power)
		n := math.Ceil(2 * z * z * sigma * sigma / (delta * delta) * math.Pi / 3)
		if n > float64(opt.MaxRuns) {
			return opt.MaxRuns
		}
		need = max(need, int(n))
	}
	return min(need, opt.MaxRuns)
}

// minExactRuns is the fewest runs per side (k) whose most extreme split,
// 2/C(2k, k), reaches level.
func minExactRuns(level float64, maxRuns int) int {
	for k := 1; k < maxRuns; k++ {
		if math.Log(2)-lchoose(2*k, k) <= math.Log(level) {
			return k
		}
	}
	return maxRuns
}

// rateRuns estimates the runs per side at which the observed failure
// rates, if they held, would be decisive: unanimity at opt.Unanimous runs
// when one side always passed and the other always failed, else the
// Fisher test at level on the counts scaled up. It returns the further
// runs per side.
func rateRuns(b, h Side, opt Options, level float64) int {
	have := min(b.Runs, h.Runs)
	if (b.Fail == 0 && h.Fail == h.Runs) || (h.Fail == 0 && b.Fail == b.Runs) {
		return max(1, opt.Unanimous-have)
	}
	for s := 2; s*max(b.Runs, h.Runs) <= opt.MaxRuns; s++ {
		if p, _ := Fisher(s*b.Pass, s*b.Fail, s*h.Pass, s*h.Fail); p < level {
			return s*max(b.Runs, h.Runs) - have
		}
	}
	return opt.MaxRuns
}

// String renders an outcome's verdict for a table: "undecided (+12 runs)".
func (o Outcome) String() string {
	if o.Verdict == Undecided && o.MoreRuns > 0 {
		return fmt.Sprintf("%s (+%d runs)", o.Verdict, o.MoreRuns)
	}
	return string(o.Verdict)
}
