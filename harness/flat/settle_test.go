package flat_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/harness/flat"
	"github.com/gitchaos/gitchaos/harness/result"
)

func TestSettleReachesAStableValue(t *testing.T) {
	// A count that drains 5, 4, 3, 2 and then stays: settles at 2.
	var n atomic.Int64
	n.Store(5)
	var hooks atomic.Int64
	read := func(context.Context) (float64, error) {
		v := n.Load()
		if v > 2 {
			n.Add(-1)
		}
		return float64(v), nil
	}
	r, err := flat.Settle(context.Background(), read, flat.SettleOptions{
		Metric: "fds", Budget: 2, Interval: time.Millisecond,
		Before: []func(context.Context){func(context.Context) { hooks.Add(1) }},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK || r.Value != 2 || r.Attempts != 6 || hooks.Load() != 6 {
		t.Errorf("%s (attempts %d, hooks %d)", r, r.Attempts, hooks.Load())
	}
	if got := r.String(); !strings.HasPrefix(got, "settled fds: 2 fds <= budget 2 fds, stable for 3 reads after 6 reads in") {
		t.Errorf("text %q", got)
	}
	if c := r.Check(""); c.Verdict != result.Pass || c.Name != "fds settles" || c.Value != 2 || c.Budget != "<= 2 fds" || c.Measured != "2 fds" {
		t.Errorf("check %+v", c)
	}
	if len(r.Seen) != 4 || r.Seen[0] != 5 || r.Seen[3] != 2 {
		t.Errorf("seen %v", r.Seen)
	}
}

func TestSettleFailsWithTheLastValue(t *testing.T) {
	// Stable but over budget.
	r, err := flat.Settle(context.Background(), func(context.Context) (float64, error) { return 13, nil },
		flat.SettleOptions{Metric: "fds", Budget: 12, Interval: time.Millisecond, Timeout: 50 * time.Millisecond,
			Detail: func() string { return "fd 13 -> /tmp/x" }})
	if err != nil {
		t.Fatal(err)
	}
	if r.OK || !r.Stable || r.Value != 13 || r.Detail != "fd 13 -> /tmp/x" {
		t.Errorf("%+v", r)
	}
	if !strings.HasPrefix(r.String(), "NOT SETTLED fds: 13 fds > budget 12 fds after ") || !strings.HasSuffix(r.String(), "(seen 13; stable)") {
		t.Errorf("text %q", r.String())
	}
	c := r.Check("fds after churn")
	if c.Verdict != result.Fail || !strings.HasSuffix(c.Explanation, "\nfd 13 -> /tmp/x") {
		t.Errorf("check %+v", c)
	}

	// Never stable.
	var n atomic.Int64
	r, err = flat.Settle(context.Background(), func(context.Context) (float64, error) { return float64(n.Add(1) % 2), nil },
		flat.SettleOptions{Metric: "goroutines", Budget: 5, Interval: time.Millisecond, Timeout: 30 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.OK || r.Stable || !strings.Contains(r.String(), "still changing") {
		t.Errorf("flapping: %s", r)
	}

	// Reads failing throughout: an error naming the last failure.
	_, err = flat.Settle(context.Background(), func(context.Context) (float64, error) { return 0, errors.New("connection refused") },
		flat.SettleOptions{Metric: "repos", Interval: time.Millisecond, Timeout: 20 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("failing reads: %v", err)
	}
	// A cancelled context ends the loop at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	r, _ = flat.Settle(ctx, func(context.Context) (float64, error) { return 1, nil }, flat.SettleOptions{Metric: "fds"})
	if r.OK || time.Since(start) > time.Second {
		t.Errorf("cancelled: %s", r)
	}
	for _, o := range []flat.SettleOptions{{}, {Metric: "x", Stable: -1}, {Metric: "x", Interval: -1}, {Metric: "x", Timeout: -1}} {
		if _, err := flat.Settle(context.Background(), func(context.Context) (float64, error) { return 0, nil }, o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	if _, err := flat.Settle(context.Background(), nil, flat.SettleOptions{Metric: "x"}); err == nil {
		t.Error("nil read: no error")
	}
}

//go:noinline
func leakyWorker(stop <-chan struct{}) { <-stop }

//go:noinline
func otherLeak(stop <-chan struct{}) {
	select {
	case <-stop:
	case <-time.After(time.Hour):
	}
}

// Goroutines started after the baseline and still alive are reported,
// grouped by top function with one stack each; ignored ones are not.
func TestSettleGoroutinesGroupsLeakedStacks(t *testing.T) {
	base := flat.BaselineGoroutines()
	stop := make(chan struct{})
	exited := make(chan struct{}, 5)
	for range 3 {
		go func() { leakyWorker(stop); exited <- struct{}{} }()
	}
	go func() { otherLeak(stop); exited <- struct{}{} }()
	ignoredStop := make(chan struct{})
	go func() { leakyIgnored(ignoredStop); exited <- struct{}{} }()

	ignore := flat.IgnoreFuncs{Any: []string{"github.com/gitchaos/gitchaos/harness/flat_test.leakyIgnored"}}
	r, err := flat.SettleGoroutines(context.Background(), base, ignore, flat.SettleOptions{Interval: 5 * time.Millisecond, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.OK || r.Value != 4 {
		t.Fatalf("%s\n%s", r, r.Detail)
	}
	for _, want := range []string{
		"4 leaked goroutine(s) in 2 group(s):",
		"3 x github.com/gitchaos/gitchaos/harness/flat_test.leakyWorker [chan receive]",
		"1 x github.com/gitchaos/gitchaos/harness/flat_test.otherLeak [select]",
		"created by github.com/gitchaos/gitchaos/harness/flat_test.TestSettleGoroutinesGroupsLeakedStacks",
	} {
		if !strings.Contains(r.Detail, want) {
			t.Errorf("detail lacks %q:\n%s", want, r.Detail)
		}
	}
	if strings.Contains(r.Detail, "leakyIgnored") {
		t.Errorf("ignored goroutine reported:\n%s", r.Detail)
	}
	t.Logf("failing verdict:\n%s", r.Check("goroutines after churn").Explanation)

	close(stop)
	close(ignoredStop)
	for range 5 {
		<-exited
	}
	r, err = flat.SettleGoroutines(context.Background(), base, flat.IgnoreFuncs{}, flat.SettleOptions{Interval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK || r.Value != 0 || r.Detail != "" {
		t.Errorf("after release: %s\n%s", r, r.Detail)
	}
}

//go:noinline
func leakyIgnored(stop <-chan struct{}) { <-stop }

func TestParseStacks(t *testing.T) {
	text := `goroutine 7 [IO wait, 2 minutes]:
internal/poll.runtime_pollWait(0x7f, 0x72)
	/usr/local/go/src/runtime/netpoll.go:351 +0x85
net/http.(*persistConn).readLoop(0xc000)
	/usr/local/go/src/net/http/transport.go:2205 +0x16d
created by net/http.(*Transport).dialConn in goroutine 6
	/usr/local/go/src/net/http/transport.go:1874 +0x1a4

goroutine 9 [running]:
main.main()
	/x/main.go:3 +0x1
`
	gs := flat.ParseStacks([]byte(text))
	if len(gs) != 2 {
		t.Fatalf("%d goroutines", len(gs))
	}
	g := gs[0]
	if g.ID != 7 || g.State != "IO wait, 2 minutes" || g.Top != "internal/poll.runtime_pollWait" ||
		len(g.Funcs) != 2 || g.Funcs[1] != "net/http.(*persistConn).readLoop" || g.CreatedBy != "net/http.(*Transport).dialConn" {
		t.Errorf("%+v", g)
	}
	if gs[1].Top != "main.main" || gs[1].State != "running" {
		t.Errorf("%+v", gs[1])
	}
	if got := flat.GroupStacks(gs); !strings.HasPrefix(got, "2 leaked goroutine(s) in 2 group(s):") {
		t.Errorf("group: %s", got)
	}
}
