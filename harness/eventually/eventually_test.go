package eventually_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
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

// fatalTB records Fatalf and ends its goroutine as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f)
}

func TestRequire(t *testing.T) {
	run := func(cond func() (bool, any)) string {
		f := &fatalTB{TB: t}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil && r != any(f) {
					panic(r)
				}
			}()
			eventually.Require(f, 40*time.Millisecond, "the answer", cond)
		}()
		wg.Wait()
		return f.msg
	}
	if msg := run(func() (bool, any) { return true, 42 }); msg != "" {
		t.Fatalf("Require failed a condition that holds: %s", msg)
	}
	msg := run(func() (bool, any) { return false, struct{ Got int }{41} })
	if !strings.Contains(msg, "the answer") || !strings.Contains(msg, "Got:41") {
		t.Fatalf("Require's failure %q, want what was awaited and the last observation", msg)
	}
}
