package reports

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gitchaos/gitchaos/harness/result"
)

// junitSchema is the JUnit schema the output must satisfy: the
// Jenkins/Ant/surefire structure, stricter on names, counts and times.
const junitSchema = "testdata/junit.xsd"

// xmllint returns the path of xmllint (Debian package libxml2-utils) or
// skips the test.
func xmllint(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("xmllint")
	if err != nil {
		t.Skip("xmllint not installed (Debian: apt-get install libxml2-utils); JUnit schema validation skipped")
	}
	return p
}

// validateJUnit runs xmllint --schema on doc and returns its complaint.
func validateJUnit(t *testing.T, doc []byte) error {
	t.Helper()
	path := filepath.Join(t.TempDir(), "report.xml")
	if err := os.WriteFile(path, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, xmllint(t), "--noout", "--nonet", "--schema", junitSchema, path).CombinedOutput()
	if err != nil {
		return errors.New(strings.TrimSpace(string(out)))
	}
	if !strings.Contains(string(out), "validates") {
		return errors.New("xmllint said neither yes nor no: " + string(out))
	}
	return nil
}

func renderJUnit(t *testing.T, run *result.Run) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, run); err != nil {
		t.Fatalf("WriteJUnit: %v", err)
	}
	return buf.Bytes()
}

// edgeRun holds what real runs produce at their worst: empty names, an
// unknown verdict, NaN and negative durations, control characters from a
// target's stderr, markup, and an explanation far past the message limit.
func edgeRun() *result.Run {
	long := strings.Repeat("the fetch of h1/repo-7 hung; ", 200)
	return &result.Run{
		ID: "edge & <odd> \"run\"", Kind: "", Duration: result.Seconds(math.NaN()),
		Scenarios: []*result.Scenario{
			nil,
			{Name: "", Duration: -3, Params: map[string]any{"x": []int{1, 2}}, Checks: []result.Check{
				{Name: "", Verdict: result.Pass},
				{Name: "odd verdict", Verdict: "maybe"},
				{Name: "ctl\x00chars\x1b[31m", Verdict: result.Fail, Measured: "a\x07b", Budget: "<= ]]> 1", Explanation: long},
				{Name: "skipped, no reason", Verdict: result.Skip},
			}, Logs: []string{"a\x01b"}},
			{Name: "ünïcødé — scenario", Duration: 1e15, Error: "boom\x00"},
		},
	}
}

func TestJUnitValidatesAgainstSchema(t *testing.T) {
	xmllint(t)
	for name, run := range map[string]*result.Run{
		"failing gate": sampleFailingRun(),
		"passing gate": samplePassingRun(),
		"edge cases":   edgeRun(),
		"empty run":    {ID: "empty"},
	} {
		t.Run(name, func(t *testing.T) {
			doc := renderJUnit(t, run)
			if err := validateJUnit(t, doc); err != nil {
				t.Errorf("JUnit for %s does not validate against %s:\n%v\n--- document ---\n%s", name, junitSchema, err, doc)
			}
		})
	}
}

// TestJUnitSchemaRejects proves the validation can fail: documents that
// break the schema in ways a writer bug would are refused.
func TestJUnitSchemaRejects(t *testing.T) {
	xmllint(t)
	good := string(renderJUnit(t, sampleFailingRun()))
	for name, bad := range map[string]string{
		"testcase without name": strings.Replace(good, `<testcase name="fds flat"`, `<testcase`, 1),
		"time with exponent":    strings.Replace(good, `time="41.200"`, `time="4.12e+01"`, 1),
		"negative count":        strings.Replace(good, `tests="7"`, `tests="-7"`, 1),
		"failure after suite":   strings.Replace(good, `</testsuites>`, `<failure message="x"/></testsuites>`, 1),
	} {
		if bad == good {
			t.Fatalf("%s: the mutation did not apply; update the test to the current output", name)
		}
		if err := validateJUnit(t, []byte(bad)); err == nil {
			t.Errorf("%s: schema accepted a broken document", name)
		}
	}
}

// TestJUnitContent parses the XML back: one testcase per check (plus one
// per errored scenario), failures that carry measured vs budget, counts
// that add up.
func TestJUnitContent(t *testing.T) {
	run := sampleFailingRun()
	var doc junitSuites
	if err := xml.Unmarshal(renderJUnit(t, run), &doc); err != nil {
		t.Fatalf("parse own JUnit: %v", err)
	}
	if len(doc.Suites) != len(run.Scenarios) {
		t.Fatalf("%d testsuites, want one per scenario (%d)", len(doc.Suites), len(run.Scenarios))
	}
	total, failures, errs := 0, 0, 0
	for i, s := range run.Scenarios {
		suite := doc.Suites[i]
		want := len(s.Checks)
		if s.Error != "" {
			want++
		}
		if suite.Name != s.Name || len(suite.Cases) != want || suite.Tests != want {
			t.Errorf("suite %d: name %q, %d cases, tests=%d; want %q with %d", i, suite.Name, len(suite.Cases), suite.Tests, s.Name, want)
		}
		total += suite.Tests
		failures += suite.Failures
		errs += suite.Errors
	}
	if doc.Tests != total || doc.Failures != failures || doc.Errors != errs || failures != 1 || errs != 2 {
		t.Errorf("testsuites tests=%d failures=%d errors=%d; suites add to %d/%d/%d; want 1 failure and 2 errors",
			doc.Tests, doc.Failures, doc.Errors, total, failures, errs)
	}

	fds := doc.Suites[0].Cases[0]
	if fds.Name != "fds flat" || fds.Failure == nil {
		t.Fatalf("first case = %+v, want the failing fds check", fds)
	}
	for _, want := range []string{"measured +1.02 fds/cycle", "budget <= 0 fds/cycle", "27 deleted scopes left 27 descriptors open"} {
		if !strings.Contains(fds.Failure.Message, want) {
			t.Errorf("failure message %q lacks %q", fds.Failure.Message, want)
		}
	}
	if !strings.Contains(fds.Failure.Body, "series:      fds per cycle") {
		t.Errorf("failure body lacks the backing series:\n%s", fds.Failure.Body)
	}
	var skipped, errored int
	for _, c := range doc.Suites[0].Cases {
		if c.Skipped != nil {
			skipped++
			if c.Skipped.Message != "target exposes no thread count" {
				t.Errorf("skipped message %q, want the explanation", c.Skipped.Message)
			}
		}
		if c.Error != nil {
			errored++
		}
	}
	if skipped != 1 || errored != 1 || doc.Suites[0].Skipped != 1 {
		t.Errorf("churn suite: %d skipped, %d errored cases (attr skipped=%d); want 1, 1", skipped, errored, doc.Suites[0].Skipped)
	}
	last := doc.Suites[3].Cases[0]
	if last.Name != "(scenario)" || last.Error == nil || !strings.Contains(last.Error.Message, "too many open files") {
		t.Errorf("errored scenario case = %+v, want an <error> naming the cause", last)
	}
}

func TestJUnitEdgeCases(t *testing.T) {
	var doc junitSuites
	if err := xml.Unmarshal(renderJUnit(t, edgeRun()), &doc); err != nil {
		t.Fatalf("parse own JUnit: %v", err)
	}
	if len(doc.Suites) != 2 {
		t.Fatalf("%d suites, want 2 (nil scenario dropped)", len(doc.Suites))
	}
	cases := doc.Suites[0].Cases
	if doc.Suites[0].Name == "" || cases[0].Name == "" {
		t.Errorf("empty scenario/check names written as %q/%q, want placeholders", doc.Suites[0].Name, cases[0].Name)
	}
	if cases[1].Error == nil {
		t.Errorf("unknown verdict %q written as %+v, want <error>", "maybe", cases[1])
	}
	if f := cases[2].Failure; f == nil || utf8.RuneCountInString(f.Message) > junitMessageLimit || !strings.Contains(f.Body, "the fetch of h1/repo-7 hung") {
		t.Errorf("long failure = %+v, want the message capped at %d characters and the full text in the body", f, junitMessageLimit)
	}
	if doc.Time != "0.000" || doc.Suites[0].Time != "0.000" || doc.Suites[1].Time != "0.000" {
		t.Errorf("times NaN/-3/1e15 written as %q/%q/%q, want 0.000", doc.Time, doc.Suites[0].Time, doc.Suites[1].Time)
	}
}
