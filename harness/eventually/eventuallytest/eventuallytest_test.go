package eventuallytest_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gitchaos/gitchaos/harness/eventually/eventuallytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

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
			eventuallytest.Require(f, 40*time.Millisecond, "the answer", cond)
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
