package gates

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/gitchaos/gitchaos/harness/flat"
	"github.com/gitchaos/gitchaos/harness/result"
)

// Check is a declared check: its identity, the title people read, the unit
// of its numbers and what it guards. Gates record checks only through a
// declared Check (S.rec), so report.json, the mutant table, the expected
// verdicts of the real OPAL server and the docs address a check by its ID,
// and a renamed title changes nothing downstream.
type Check struct {
	ID     string `json:"id"`               // "<gate>.<slug>", e.g. "churn.fds-flat"
	Gate   string `json:"gate"`             // the gate (scenario) that records it; "runner" for the runner's own
	Title  string `json:"title"`            // what reports print, e.g. "fds flat across churn cycles"
	Unit   string `json:"unit,omitempty"`   // unit of a compared value (s, count, bytes, fds/cycle ...); "" for a yes/no check
	Guards string `json:"guards"`           // what the check guards, one line
	When   string `json:"when,omitempty"`   // "" when a run that ends without error always records it; else when it does
	Metric string `json:"metric,omitempty"` // the metric of a per-metric check (flatness, totals, baselines)
}

// String is the check's ID.
func (c *Check) String() string { return c.ID }

// declared lists every declared check in declaration order; byID indexes it.
var (
	declared []*Check
	byID     = map[string]*Check{}
)

// idPattern is the shape of a check ID: a gate name, a dot, a slug.
var idPattern = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9][a-z0-9-]*$`)

// declare registers a check of gate. It panics on a malformed or repeated
// ID, at package init: a declaration mistake never reaches a run.
func declare(gate, slug, title, unit, guards string) *Check {
	return register(&Check{ID: gate + "." + slug, Gate: gate, Title: title, Unit: unit, Guards: guards})
}

// sometimes marks c as recorded only in some runs (the text says when):
// the run-time completeness check does not expect it.
func (c *Check) sometimes(when string) *Check {
	c.When = when
	return c
}

func register(c *Check) *Check {
	if !idPattern.MatchString(c.ID) || !strings.HasPrefix(c.ID, c.Gate+".") || c.Title == "" || c.Guards == "" {
		panic(fmt.Sprintf("gates: bad check declaration %+v", *c))
	}
	if _, dup := byID[c.ID]; dup {
		panic("gates: check " + c.ID + " declared twice")
	}
	declared = append(declared, c)
	byID[c.ID] = c
	return c
}

// perMetric is a family of checks, one per metric: "<metric> flat across
// churn cycles" and the like.
type perMetric map[string]*Check

// declarePerMetric declares one check per metric of metrics: ID
// "<gate>.<metric slug>-<slug>", title fmt.Sprintf(titleFormat, metric),
// unit unitOf(metric).
func declarePerMetric(gate, slug, titleFormat string, metrics []string, unitOf func(string) string, guards string) perMetric {
	out := perMetric{}
	for _, m := range metrics {
		c := declare(gate, metricSlug(m)+"-"+slug, fmt.Sprintf(titleFormat, m), unitOf(m), fmt.Sprintf(guards, m))
		c.Metric = m
		out[m] = c
	}
	return out
}

// sometimes marks every check of the family as recorded only in some runs.
func (f perMetric) sometimes(when string) perMetric {
	for _, c := range f {
		c.When = when
	}
	return f
}

// of is the family's check of metric m (nil when m has none: recording it
// is then an undeclared check).
func (f perMetric) of(m string) *Check { return f[m] }

// metricSlug is a metric name as it appears in a check ID: heap_bytes ->
// heap-bytes.
func metricSlug(m string) string { return strings.ReplaceAll(m, "_", "-") }

// Checks lists every declared check: the suite's gates in suite order, then
// the soak's, then the runner's; within a gate in declaration order.
func Checks() []*Check {
	order := append(append(Names(), OptInNames()...), "soak", "runner")
	out := slices.Clone(declared)
	slices.SortStableFunc(out, func(a, b *Check) int {
		return slices.Index(order, a.Gate) - slices.Index(order, b.Gate)
	})
	return out
}

// LookupCheck returns the declared check with id.
func LookupCheck(id string) (*Check, bool) {
	c, ok := byID[id]
	return c, ok
}

// ChecksOf lists the checks gate declares, in declaration order.
func ChecksOf(gate string) []*Check {
	var out []*Check
	for _, c := range declared {
		if c.Gate == gate {
			out = append(out, c)
		}
	}
	return out
}

// Unrecorded lists the checks res's gate declares as always recorded (When
// empty) that res lacks, when res ended without error and no check
// failed or errored (a gate that stops at a failure records less); nil
// otherwise. The matrix's correct row fails on any: a declared check its
// gate never emits is a check nobody runs.
func Unrecorded(res *result.Scenario) []*Check {
	if res.Error != "" {
		return nil
	}
	got := map[string]bool{}
	for _, c := range res.Checks {
		if c.Verdict == result.Fail || c.Verdict == result.Error {
			return nil
		}
		got[c.ID] = true
	}
	var out []*Check
	for _, c := range ChecksOf(res.Name) {
		if c.When == "" && !got[c.ID] {
			out = append(out, c)
		}
	}
	return out
}

// perUnit is the unit of a flatness check family: a slope per cycle,
// round or window (as flat.TrendResult.Check writes it).
func perUnit(per string) func(m string) string {
	return func(m string) string { return orDefault(flat.UnitOf(m), unitCount) + "/" + per }
}

// totalUnit is the unit of a total-growth check: bytes or a count.
func totalUnit(m string) string {
	if flat.UnitOf(m) == unitBytes {
		return unitBytes
	}
	return unitCount
}
