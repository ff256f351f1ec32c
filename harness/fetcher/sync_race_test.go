package fetcher

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"
)

// A forced refresh that comes after the running fetch stamped its success
// but before it let go of the source still fetches once more: that fetch
// started before the request and may have missed what it announced. (The
// sync used to read the stamp before waiting; finding it unchanged after
// the wait, it took the fetch for a failure and only read the clone.) A
// forced refresh waiting on a fetch that failed only reads.
func TestForcedSyncAfterStampBeforeRelease(t *testing.T) {
	for _, failed := range []bool{false, true} {
		t.Run(map[bool]string{false: "running fetch succeeded", true: "running fetch failed"}[failed], func(t *testing.T) {
			srv, e, _, head := serving(t, "", 170, "a")
			e.f.mu.Lock()
			src := e.f.sources[e.f.scopes["a"].sid]
			e.f.mu.Unlock()
			next := srv.push("r", 171)
			fetchesBefore := srv.stat(srv.refs, "r")

			// The running operation: it fetched (stamped a second ago:
			// it started before the request) and has not let go yet.
			ctx := context.Background()
			_, leave, err := e.f.strat.guard.enter(ctx, e.f, src)
			if err != nil {
				t.Fatal(err)
			}
			e.f.strat.stamp.success(e.f.caches, src.id, time.Now().Add(-time.Second))
			if failed {
				src.markFailed()
			}
			done := make(chan error, 1)
			go func() { done <- e.f.syncScope(ctx, "a", syncOpts{force: true, reqTime: time.Now()}) }()
			waitFor(t, 10*time.Second, "the forced sync waits on the running operation", func() (bool, string) {
				buf := make([]byte, 1<<20)
				stacks := string(buf[:runtime.Stack(buf, true)])
				return strings.Contains(stacks, "(*source).waitFlight"), "no goroutine in waitFlight"
			})
			leave()
			if err := <-done; err != nil {
				t.Fatalf("forced sync: %v", err)
			}
			want, fetches := next, 1
			if failed {
				want, fetches = head, 0
			}
			if got := e.status("a").Head; got != want {
				t.Errorf("head %s, want %s", got, want)
			}
			if got := srv.stat(srv.refs, "r") - fetchesBefore; got != fetches {
				t.Errorf("%d fetches after the wait, want %d", got, fetches)
			}
		})
	}
}
