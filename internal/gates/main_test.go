package gates

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/gitchaos/gitchaos/harness/guard"
	"github.com/gitchaos/gitchaos/harness/testbed/toxiembed"
)

// TestMain checks that no test leaves a goroutine behind (toxiproxy's own
// leaks aside); exec targets get guards.
func TestMain(m *testing.M) {
	guard.MaybeRun()
	goleak.VerifyTestMain(m, toxiembed.UpstreamLeaks()...)
}
