// Package eventuallytest holds the test side of package eventually: waits
// that fail a test (testing.TB) when a condition does not hold in time, in
// the manner of consul's retry.Run. It is apart from eventually so that
// binaries, which wait through eventually.Poll, do not link package
// testing.
package eventuallytest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/harness/eventually"
)

// Require polls cond every eventually.Interval until it holds; when
// timeout passes first, it fails t with what was awaited and the last
// value cond saw.
func Require(t testing.TB, timeout time.Duration, what string, cond func() (ok bool, observed any)) {
	t.Helper()
	out := eventually.Poll(context.Background(), timeout, eventually.Interval, func(context.Context) (bool, string, error) {
		ok, obs := cond()
		return ok, fmt.Sprintf("%+v", obs), nil
	})
	if !out.OK {
		t.Fatalf("%s: not within %v; last observed: %s", what, timeout, out.Describe())
	}
}
