package reports

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gitchaos/gitchaos/harness/result"
)

// TestCatchShown: a matrix run of a mutant shows, in every format, the
// checks that had to fail with their verdicts, whether it was caught, and
// the collateral failures.
func TestCatchShown(t *testing.T) {
	run := sampleFailingRun()
	run.Kind = "matrix"
	churn := run.Scenarios[0].Name
	fd := run.Scenarios[0].Checks[0].Name // churn's failing fds check
	run.Catch = &result.Catch{
		Mutant: "fd-leak-on-delete", Seam: "purge", Upstream: "OPAL #923",
		MustFail: []result.CheckRef{{Scenario: churn, ID: run.Scenarios[0].Checks[0].ID, Check: fd}, {Scenario: churn, ID: "sample.caches-drain", Check: "caches drain to zero"}},
	}
	run.Catch.Judge(run)
	if run.Catch.Caught() {
		t.Fatal("caught although one must-fail check passed")
	}
	for name, write := range map[string]func(*bytes.Buffer) error{
		"markdown": func(b *bytes.Buffer) error { return WriteMarkdown(b, run) },
		"html":     func(b *bytes.Buffer) error { return WriteHTML(b, run) },
		"junit":    func(b *bytes.Buffer) error { return WriteJUnit(b, run) },
	} {
		var b bytes.Buffer
		if err := write(&b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out := b.String()
		for _, want := range []string{"fd-leak-on-delete", "caches drain to zero", "MISSED", "pass"} {
			if name == "junit" && want == "MISSED" {
				want = `name="mutant.caught" value="false"`
			}
			if !strings.Contains(out, want) {
				t.Errorf("%s: no %q in the report", name, want)
			}
		}
	}
	run.Catch.MustFail = run.Catch.MustFail[:1]
	run.Catch.Judge(run)
	if !run.Catch.Caught() {
		t.Fatalf("not caught though %s failed: %+v", fd, run.Catch.MustFail)
	}
	var b bytes.Buffer
	if err := WriteMarkdown(&b, run); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "`fd-leak-on-delete`: caught") {
		t.Errorf("markdown does not say caught:\n%s", b.String())
	}
}
