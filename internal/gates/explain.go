package gates

import (
	"fmt"
	"strings"

	"github.com/gitchaos/gitchaos/harness/result"
)

// SetTestbed runs on another testbed than the local one; kind names it in
// the report. A nil f is an error Validate names, not the local testbed.
func (o *Options) SetTestbed(kind string, f TestbedFactory) {
	o.Testbeds, o.TestbedKind, o.nilTestbed = f, kind, f == nil
}

// Explain renders a scenario's checks, failing ones with their numbers.
func Explain(res *result.Scenario) string {
	var b strings.Builder
	for _, c := range res.Checks {
		fmt.Fprintf(&b, "  %-5s %s: measured %s, budget %s", strings.ToUpper(string(c.Verdict)), c.Name, c.Measured, c.Budget)
		if c.Verdict != result.Pass && c.Explanation != "" {
			fmt.Fprintf(&b, " — %s", c.Explanation)
		}
		b.WriteByte('\n')
	}
	if res.Error != "" {
		fmt.Fprintf(&b, "  ERROR %s\n", res.Error)
	}
	return b.String()
}
