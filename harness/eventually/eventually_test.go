package eventually_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gitchaos/gitchaos/harness/eventually"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPollHoldsEarly(t *testing.T) {
	n := 0
	out := eventually.Poll(context.Background(), 10*time.Second, time.Millisecond, func(context.Context) (bool, string, error) {
		n++
		return n == 3, fmt.Sprintf("n=%d", n), nil
	})
	if !out.OK || out.Observed != "n=3" || n != 3 {
		t.Fatalf("outcome %+v after %d calls, want OK at n=3", out, n)
	}
}

func TestPollKeepsLastObservationAndError(t *testing.T) {
	n := 0
	boom := errors.New("boom")
	out := eventually.Poll(context.Background(), 50*time.Millisecond, 5*time.Millisecond, func(context.Context) (bool, string, error) {
		n++
		return true, fmt.Sprintf("n=%d", n), boom // ok with an error does not hold
	})
	if out.OK || !errors.Is(out.Err, boom) || out.Observed != fmt.Sprintf("n=%d", n) {
		t.Fatalf("outcome %+v, want not OK with the last observation n=%d and boom", out, n)
	}
	if d := out.Describe(); !strings.Contains(d, "boom") || !strings.Contains(d, "n=") {
		t.Fatalf("Describe() = %q, want the observation and the error", d)
	}
}

// TestPollNeverSleepsPastDeadline: an interval longer than the timeout
// still ends at the deadline, not an interval later.
func TestPollNeverSleepsPastDeadline(t *testing.T) {
	start := time.Now()
	out := eventually.Poll(context.Background(), 100*time.Millisecond, time.Hour, func(context.Context) (bool, string, error) {
		return false, "never", nil
	})
	if took := time.Since(start); out.OK || took > 30*time.Second {
		t.Fatalf("outcome %+v after %v, want not OK at the 100 ms deadline", out, took)
	}
}

// TestPollCtxEndKeepsPrevious: when ctx ends, the outcome keeps the last
// complete observation and says it was stopped.
func TestPollCtxEndKeepsPrevious(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	out := eventually.Poll(ctx, time.Minute, time.Millisecond, func(c context.Context) (bool, string, error) {
		n++
		if n == 2 {
			cancel()
			return false, "torn", c.Err()
		}
		return false, fmt.Sprintf("n=%d", n), nil
	})
	if out.OK || out.Observed != "n=1" || !errors.Is(out.Err, context.Canceled) {
		t.Fatalf("outcome %+v, want the observation n=1 and context.Canceled", out)
	}
}

func TestWithin(t *testing.T) {
	n := 0
	if !eventually.Within(10*time.Second, func() bool { n++; return n > 2 }) {
		t.Fatal("Within = false for a condition that holds on the third call")
	}
	if eventually.Within(30*time.Millisecond, func() bool { return false }) {
		t.Fatal("Within = true for a condition that never holds")
	}
}
