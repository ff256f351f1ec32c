package reports

import (
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/gitchaos/gitchaos/harness/result"
)

// JUnit XML in the Jenkins/Ant dialect every common CI parser reads
// (reports/testdata/junit.xsd is the schema the tests validate against).
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	Hostname   string          `xml:"hostname,attr"`
	ID         int             `xml:"id,attr"`
	Package    string          `xml:"package,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  string          `xml:"system-out"`
	SystemErr  string          `xml:"system-err"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Skipped   *junitMessage `xml:"skipped"`
	Error     *junitMessage `xml:"error"`
	Failure   *junitMessage `xml:"failure"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Body    string `xml:",chardata"`
}

// junitMessageLimit caps a message attribute; the full text is in the body.
const junitMessageLimit = 1000

// WriteJUnit writes run as JUnit XML: one testsuite per scenario (with the
// run's seed, target, testbed, mutants and versions, and the scenario's
// parameters, as properties), one testcase per check. A failed check is a
// <failure> whose message states measured vs budget and the explanation;
// a skipped check is <skipped>; a check that errored, an unknown verdict or
// a scenario error (an extra testcase named "(scenario)") is <error>.
func WriteJUnit(w io.Writer, run *result.Run) error {
	if run == nil {
		return errNilRun
	}
	kind := run.Kind
	if kind == "" {
		kind = "run"
	}
	doc := junitSuites{
		Name: fmt.Sprintf("gitchaos %s %s", kind, run.ID),
		Time: junitTime(run.Duration),
	}
	for i, s := range scenarios(run) {
		name := s.Name
		if name == "" {
			name = fmt.Sprintf("(unnamed scenario %d)", i+1)
		}
		suite := junitSuite{
			Name:      name,
			Time:      junitTime(s.Duration),
			Hostname:  "localhost",
			ID:        i,
			Package:   "gitchaos." + kind,
			SystemOut: strings.Join(s.Logs, "\n"),
		}
		started := s.Started
		if started.IsZero() {
			started = run.Started
		}
		suite.Timestamp = started.UTC().Format("2006-01-02T15:04:05")
		suite.Properties = junitProps(run, s)
		classname := "gitchaos." + name
		if s.Error != "" {
			suite.Cases = append(suite.Cases, junitCase{
				Name: "(scenario)", Classname: classname, Time: junitTime(s.Duration),
				Error: &junitMessage{
					Message: truncate("scenario error: "+s.Error, junitMessageLimit),
					Type:    "scenario-error",
					Body:    s.Error,
				},
			})
			suite.Errors++
		}
		for j, c := range s.Checks {
			if c.Name == "" { // the schema (and Jenkins) need a name
				c.Name = fmt.Sprintf("(unnamed check %d)", j+1)
			}
			tc := junitCase{Name: c.Name, Classname: classname, Time: "0.000"}
			switch checkVerdict(c.Verdict) {
			case result.Pass:
			case result.Fail:
				tc.Failure = &junitMessage{
					Message: truncate(checkSummary(c), junitMessageLimit),
					Type:    "budget-exceeded",
					Body:    checkDetail(c),
				}
				suite.Failures++
			case result.Skip:
				msg := c.Explanation
				if msg == "" {
					msg = "skipped"
				}
				tc.Skipped = &junitMessage{Message: truncate(msg, junitMessageLimit)}
				suite.Skipped++
			default:
				tc.Error = &junitMessage{
					Message: truncate(checkSummary(c), junitMessageLimit),
					Type:    "harness-error",
					Body:    checkDetail(c),
				}
				suite.Errors++
			}
			suite.Cases = append(suite.Cases, tc)
		}
		suite.Tests = len(suite.Cases)
		doc.Tests += suite.Tests
		doc.Failures += suite.Failures
		doc.Errors += suite.Errors
		doc.Suites = append(doc.Suites, suite)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("reports: write junit: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("reports: encode junit: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("reports: write junit: %w", err)
	}
	return nil
}

func junitProps(run *result.Run, s *result.Scenario) []junitProperty {
	props := []junitProperty{
		{"run.id", run.ID},
		{"kind", run.Kind},
		{"seed", fmt.Sprint(run.Seed)},
		{"scenario.seed", fmt.Sprint(s.Seed)},
		{"target", run.Target},
		{"testbed", run.Testbed},
	}
	if len(run.Mutants) > 0 {
		props = append(props, junitProperty{"mutants", strings.Join(run.Mutants, ",")})
	}
	if c := run.Catch; c != nil {
		var must, coll []string
		for _, m := range c.MustFail {
			must = append(must, orID(m)+"="+string(m.Verdict))
		}
		for _, x := range c.Collateral {
			coll = append(coll, x.String())
		}
		props = append(props,
			junitProperty{"mutant", c.Mutant},
			junitProperty{"mutant.seam", c.Seam},
			junitProperty{"mutant.upstream", c.Upstream},
			junitProperty{"mutant.caught", fmt.Sprint(c.Caught())},
			junitProperty{"mutant.must_fail", strings.Join(must, "; ")},
			junitProperty{"mutant.collateral", strings.Join(coll, "; ")})
	}
	if run.Settings != "" {
		props = append(props, junitProperty{"settings", run.Settings})
	}
	if l := shardLabel(run); l != "" {
		props = append(props, junitProperty{"shards", l})
	}
	for _, k := range slices.Sorted(maps.Keys(run.Versions)) {
		props = append(props, junitProperty{"version." + k, run.Versions[k]})
	}
	for _, k := range slices.Sorted(maps.Keys(s.Params)) {
		props = append(props, junitProperty{"param." + k, fmt.Sprint(s.Params[k])})
	}
	return props
}

// junitTime renders seconds the way surefire's schema accepts (no exponent).
func junitTime(s result.Seconds) string {
	f := float64(s)
	if !(f >= 0) || f > 1e12 { // NaN, negative, absurd
		f = 0
	}
	return fmt.Sprintf("%.3f", f)
}

// checkSummary is a one-line "measured X, budget Y: explanation".
func checkSummary(c result.Check) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: measured %s, budget %s", c.Verdict, orDash(c.Measured), orDash(c.Budget))
	if c.Explanation != "" {
		b.WriteString(": ")
		b.WriteString(c.Explanation)
	}
	return b.String()
}

// checkDetail is the multi-line text of a check for failure bodies.
func checkDetail(c result.Check) string {
	var b strings.Builder
	fmt.Fprintf(&b, "check:       %s\nverdict:     %s\nmeasured:    %s\nbudget:      %s\n",
		c.Name, c.Verdict, orDash(c.Measured), orDash(c.Budget))
	fmt.Fprintf(&b, "value:       %g %s\nlimit:       %g %s\n", c.Value, c.Unit, c.Limit, c.Unit)
	if c.Series != "" {
		fmt.Fprintf(&b, "series:      %s\n", c.Series)
	}
	if c.Explanation != "" {
		fmt.Fprintf(&b, "explanation: %s\n", c.Explanation)
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// orID names a must-fail check by its ID when it has one (tools key on
// it), else as scenario/title.
func orID(m result.CheckRef) string {
	if m.ID != "" {
		return m.ID
	}
	return m.String()
}
