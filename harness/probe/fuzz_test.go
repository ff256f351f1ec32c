package probe_test

import (
	"math"
	"testing"

	"github.com/gitchaos/gitchaos/harness/probe"
)

// FuzzParseStats: any stats body parses or errors without a panic, and
// every measured value is a number (no NaN from a malformed body).
func FuzzParseStats(f *testing.F) {
	for _, s := range []string{`{"repos":3,"rss_kb":1024,"goroutines":12}`, `{"a":{"b":{"c":true}}}`, `{"fds":"7"}`, `[]`, `null`, `{"x":1e999}`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var smp probe.Sample
		if err := probe.ParseStats(body, "fuzz", &smp); err != nil {
			return
		}
		for k, v := range smp.Values {
			if math.IsNaN(v) {
				t.Errorf("%s = NaN from %q", k, body)
			}
		}
	})
}
