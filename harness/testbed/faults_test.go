package testbed_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/repogen"
	"github.com/gitchaos/gitchaos/harness/faults"
	"github.com/gitchaos/gitchaos/harness/testbed"
)

// Every test here drives real clones (go-git, and the git command when
// installed) through a host of a local testbed while a fault is injected,
// asserts the fault's observable effect, then undoes it and checks that a
// clone works again.

// oneRepo starts a one-host testbed with one repo r000 of spec and returns
// the host, r000's URL through the proxy and its head.
func oneRepo(t *testing.T, spec repogen.Spec) (*testbed.Host, string, string) {
	t.Helper()
	l := start(t, testbed.Options{Hosts: 1, Repos: 1, Seed: 42, Spec: spec})
	h := l.Hosts()[0]
	return h, h.RepoURL("r000"), headOf(t, h, "r000")
}

// undoRestores undoes the fault and checks that every client clones again.
func undoRestores(t *testing.T, undo func(), url, want string) {
	t.Helper()
	undo()
	for _, c := range clients(t) {
		mustClone(t, c, url, want)
	}
}

func TestOffline(t *testing.T) {
	h, url, want := oneRepo(t, repogen.Spec{})
	for _, c := range clients(t) {
		mustClone(t, c, url, want)
	}
	undo := inject(t, h, faults.Offline{})
	if refused, err := dialRefused(hostPort(h.URL)); !refused {
		t.Fatalf("dial %s while offline: want refused, got err %v", h.URL, err)
	}
	for _, c := range clients(t) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		took, err := timedClone(ctx, t, c, url)
		cancel()
		if err == nil {
			t.Fatalf("%s: clone while offline succeeded", c.name)
		}
		if took > time.Second {
			t.Errorf("%s: clone while offline failed after %v, want < 1s (refused at once): %v", c.name, took, err)
		}
		if !strings.Contains(strings.ToLower(err.Error()), "refused") && !strings.Contains(err.Error(), "Couldn't connect") {
			t.Errorf("%s: clone while offline: want a refused connection, got %v", c.name, err)
		}
		t.Logf("%s: offline clone failed after %v: %v", c.name, took, err)
	}
	undoRestores(t, undo, url, want)
}

func TestBlackhole(t *testing.T) {
	h, url, want := oneRepo(t, repogen.Spec{})
	const deadline = time.Second
	undo := inject(t, h, faults.Blackhole{})

	// With a deadline: the clone hangs until the deadline and returns right
	// after it.
	for _, c := range clients(t) {
		dir := cloneDir(t)
		begin := time.Now()
		ctx, cancel := context.WithDeadline(context.Background(), begin.Add(deadline))
		err := c.clone(ctx, url, dir)
		took := time.Since(begin)
		cancel()
		if err == nil {
			t.Fatalf("%s: clone through a blackhole succeeded", c.name)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: want the deadline's error, got %v", c.name, err)
		}
		// Slack for a loaded box (100 ms was missed by 2 ms at load 10); a
		// client that ignored the deadline would hang until the undo below.
		const slack = 500 * time.Millisecond
		if took < deadline || took > deadline+slack {
			t.Errorf("%s: clone with a %v deadline returned after %v, want within [%v, %v]", c.name, deadline, took, deadline, deadline+slack)
		}
		t.Logf("%s: deadline %v, returned after %v", c.name, deadline, took)
	}

	// Without a deadline: the clone hangs for as long as the fault lasts.
	type result struct {
		name string
		err  error
	}
	cs := clients(t)
	done := make(chan result, len(cs))
	for _, c := range cs {
		dir := cloneDir(t)
		go func() { done <- result{c.name, c.clone(context.Background(), url, dir)} }()
	}
	const hold = 2 * time.Second
	select {
	case r := <-done:
		t.Fatalf("%s: clone with no deadline returned while blackholed (err %v), want it to hang", r.name, r.err)
	case <-time.After(hold): // still hanging: what a blackhole does
	}
	undo()
	released := time.Now()
	for range cs {
		select {
		case r := <-done:
			t.Logf("%s: clone with no deadline returned %v after the undo: %v", r.name, time.Since(released), r.err)
		case <-time.After(10 * time.Second):
			t.Fatalf("clone with no deadline still running 10s after the blackhole was undone")
		}
	}
	undoRestores(t, undo, url, want)
}

func TestStall(t *testing.T) {
	const pack = 512 << 10
	h, url, want := oneRepo(t, repogen.Spec{RegoFiles: 4, DataBytes: 256, Commits: 1, PackBytes: pack})

	// Byte-exact: a raw request gets exactly After bytes, then nothing
	// while the connection stays open.
	const after = 100
	undo := inject(t, h, faults.Stall{After: after})
	req := "GET /r000.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	_, _, body, err := readAllTimed(hostPort(h.URL), req, 500*time.Millisecond)
	if !isTimeout(err) || len(body) != after {
		t.Fatalf("raw request under stall:after=%d: got %d bytes and err %v, want exactly %d bytes then a read timeout", after, len(body), err, after)
	}
	undo()

	// A clone starts (refs are advertised and the pack asked for), then
	// freezes until its deadline.
	undo = inject(t, h, faults.Stall{After: 16 << 10})
	const deadline = 1500 * time.Millisecond
	for _, c := range clients(t) {
		ctx := context.Background()
		if err := h.Admin.ResetCounters(ctx); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(ctx, deadline)
		took, err := timedClone(ctx, t, c, url)
		cancel()
		if err == nil {
			t.Fatalf("%s: clone of a %d-byte pack through stall:after=16KiB succeeded", c.name, pack)
		}
		if !errors.Is(err, context.DeadlineExceeded) || took < deadline {
			t.Errorf("%s: want the clone stalled until its %v deadline, got %v after %v", c.name, deadline, err, took)
		}
		cnt, err := h.Admin.Counters(context.Background(), "r000")
		if err != nil {
			t.Fatal(err)
		}
		if cnt.InfoRefs < 1 || cnt.UploadPacks < 1 {
			t.Errorf("%s: want data to flow before the stall (refs advertised, pack requested), counters %+v", c.name, cnt)
		}
		t.Logf("%s: stalled clone returned after %v; counters %+v", c.name, took, cnt)
	}
	undoRestores(t, undo, url, want)
}

func TestLatency(t *testing.T) {
	h, url, want := oneRepo(t, repogen.Spec{})
	// Every HTTP exchange waits lat for its answer, and a clone has at
	// least two (refs, pack): a clone under the toxic takes >= 2×lat
	// whatever the machine's load. lat is large against a clone's own time
	// (tens of ms quiet, about a second at load 11 in CI) so the bound
	// cannot be met without the toxic; the baseline+lat bound that used
	// to be checked too moved with the load and failed on a busy box.
	const lat = time.Second
	cs := clients(t)
	base := map[string]time.Duration{}
	for _, c := range cs {
		var ds []time.Duration
		for range 3 {
			ds = append(ds, mustClone(t, c, url, want))
		}
		slices.Sort(ds)
		base[c.name] = ds[1]
		if base[c.name] >= 2*lat {
			t.Skipf("%s: a clone takes %v without the toxic, at or above the 2×latency bound: this machine is too loaded to see the latency", c.name, base[c.name])
		}
	}
	undo := inject(t, h, faults.Latency{Latency: lat})
	slow := map[string]time.Duration{}
	for _, c := range cs {
		took := mustClone(t, c, url, want)
		slow[c.name] = took
		if took < 2*lat {
			t.Errorf("%s: clone under latency %v took %v (baseline median %v), want >= 2×latency", c.name, lat, took, base[c.name])
		}
		t.Logf("%s: baseline %v, with latency %v: %v", c.name, base[c.name], lat, took)
	}
	undo()
	for _, c := range cs {
		var ds []time.Duration
		for range 3 {
			ds = append(ds, mustClone(t, c, url, want))
		}
		slices.Sort(ds)
		if ds[1] >= slow[c.name] {
			t.Errorf("%s: clones after undo take %v (median of 3), not faster than under latency (%v)", c.name, ds[1], slow[c.name])
		}
	}
}

func TestBandwidth(t *testing.T) {
	const (
		pack = 256 << 10 // incompressible padding: the pack is at least this big
		rate = 200       // KB/s
	)
	h, url, want := oneRepo(t, repogen.Spec{RegoFiles: 4, DataBytes: 256, Commits: 1, PackBytes: pack})
	minTook := time.Duration(float64(pack) / (rate * 1000) * 0.9 * float64(time.Second))
	cs := clients(t)
	for _, c := range cs {
		// The effect is only attributable when an unlimited clone is well
		// under the limited bound: best of three, as the machine may be
		// shared with other jobs.
		best := mustClone(t, c, url, want)
		for i := 0; i < 2 && best > minTook/2; i++ {
			best = min(best, mustClone(t, c, url, want))
		}
		if best > minTook/2 {
			t.Fatalf("%s: unlimited clone takes %v (best of 3): too slow to show a %d KB/s limit (want < %v)", c.name, best, rate, minTook/2)
		}
	}
	undo := inject(t, h, faults.Bandwidth{RateKBps: rate})
	// The limit is per connection: both clients run at once.
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			took, err := timedClone(ctx, t, c, url)
			if err != nil {
				t.Errorf("%s: clone under bandwidth limit: %v", c.name, err)
				return
			}
			if took < minTook {
				t.Errorf("%s: clone of a %d-byte pack at %d KB/s took %v, want >= %v", c.name, pack, rate, took, minTook)
			}
			t.Logf("%s: %d-byte pack at %d KB/s: %v", c.name, pack, rate, took)
		})
	}
	wg.Wait()
	undoRestores(t, undo, url, want)
}

func TestReset(t *testing.T) {
	h, url, want := oneRepo(t, repogen.Spec{})
	undo := inject(t, h, faults.Reset{})
	for _, c := range clients(t) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		took, err := timedClone(ctx, t, c, url)
		cancel()
		if err == nil {
			t.Fatalf("%s: clone through reset succeeded", c.name)
		}
		if errors.Is(err, context.DeadlineExceeded) || took > 2*time.Second {
			t.Errorf("%s: want a fast failure, got %v after %v", c.name, err, took)
		}
		msg := strings.ToLower(err.Error())
		if !strings.Contains(msg, "reset") && !strings.Contains(msg, "eof") && !strings.Contains(msg, "empty reply") {
			t.Errorf("%s: want a reset connection, got %v", c.name, err)
		}
		t.Logf("%s: reset clone failed after %v: %v", c.name, took, err)
	}
	undoRestores(t, undo, url, want)
}

func TestSlowClose(t *testing.T) {
	h, url, want := oneRepo(t, repogen.Spec{})
	const delay = 1500 * time.Millisecond
	req := "GET /r000.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	_, eof0, _, err := readAllTimed(hostPort(h.URL), req, 5*time.Second)
	if err != nil || eof0 > delay/2 {
		t.Fatalf("baseline: server close seen after %v (err %v), want < %v", eof0, err, delay/2)
	}
	undo := inject(t, h, faults.SlowClose{Delay: delay})
	// The server's close reaches the client delay late; the data does not.
	first, eof, body, err := readAllTimed(hostPort(h.URL), req, 5*time.Second)
	if err != nil {
		t.Fatalf("request under slow-close: %v", err)
	}
	if !strings.HasPrefix(string(body), "HTTP/1.1 200") {
		t.Fatalf("request under slow-close: unexpected answer %.80q", body)
	}
	if first > delay/2 || eof < delay {
		t.Errorf("slow-close %v: first byte after %v (want < %v), close after %v (want >= %v)", delay, first, delay/2, eof, delay)
	}
	t.Logf("slow-close %v: first byte %v, close %v (baseline close %v)", delay, first, eof, eof0)
	// Keep-alive HTTP clients never wait for the close: clones still work
	// at full speed.
	for _, c := range clients(t) {
		took := mustClone(t, c, url, want)
		if took >= delay { // once more, in case the machine was busy
			took = min(took, mustClone(t, c, url, want))
		}
		if took >= delay {
			t.Errorf("%s: clone under slow-close took %v (best of 2), want < %v (keep-alive needs no close)", c.name, took, delay)
		}
	}
	undoRestores(t, undo, url, want)
}

func TestFlap(t *testing.T) {
	h, url, want := oneRepo(t, repogen.Spec{})
	const (
		up    = time.Second
		down  = time.Second
		count = 2
	)
	f := &faults.Flap{Up: up, Down: down, Count: count}
	cs := clients(t)
	begin := time.Now()
	undo := inject(t, h, f)

	// Probe the proxy every 20 ms and record each change of state.
	type change struct {
		at time.Duration
		up bool
	}
	var changes []change
	var probeErr error
	var wg sync.WaitGroup
	const watch = 3600 * time.Millisecond
	wg.Go(func() {
		state := -1
		for time.Since(begin) < watch {
			refused, err := dialRefused(hostPort(h.URL))
			if err != nil && strings.Contains(err.Error(), "reset by peer") {
				// Accepted into the backlog just as the listener closed:
				// the proxy is going down.
				refused, err = true, nil
			}
			if err != nil {
				probeErr = err
				return
			}
			if s := map[bool]int{true: 0, false: 1}[refused]; s != state {
				state = s
				changes = append(changes, change{time.Since(begin), !refused})
			}
			time.Sleep(20 * time.Millisecond) // probe period, not a wait for a condition
		}
	})

	// Real clones in the middle of each phase. A clone is judged by the
	// phase it ran in from start to end: one that straddles a switch (a busy
	// machine can delay it) proves nothing and is only logged.
	phases := []struct {
		at      time.Duration
		timeout time.Duration
	}{{down / 2, up}, {down + up/2, up}, {down + up + down/2, up}, {2*down + up + 500*time.Millisecond, 10 * time.Second}}
	for _, p := range phases {
		if d := p.at - time.Since(begin); d > 0 {
			time.Sleep(d) // schedule the clone at its phase, not a wait for a condition
		}
		for _, c := range cs {
			ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
			from := time.Since(begin)
			_, err := timedClone(ctx, t, c, url)
			to := time.Since(begin)
			cancel()
			switch sFrom, sTo := flapState(from, up, down, count), flapState(to, up, down, count); {
			case sFrom != sTo || sFrom == unsure:
				t.Logf("%s: clone from %v to %v straddles a switch (err %v): not judged", c.name, from, to, err)
			case sFrom == isUp && err != nil:
				t.Errorf("%s: clone from %v to %v (host up) failed: %v", c.name, from, to, err)
			case sFrom == isDown && err == nil:
				t.Errorf("%s: clone from %v to %v (host down) succeeded", c.name, from, to)
			}
		}
	}
	wg.Wait()
	if probeErr != nil {
		t.Fatalf("probe: %v", probeErr)
	}
	var got []string
	for _, c := range changes {
		got = append(got, fmt.Sprintf("%s@%v", map[bool]string{true: "up", false: "down"}[c.up], c.at.Round(time.Millisecond)))
	}
	wantAt := []time.Duration{0, down, down + up, 2*down + up}
	if len(changes) != len(wantAt) {
		t.Fatalf("flap up=%v down=%v count=%d: state changes %v, want down, up, down, up", up, down, count, got)
	}
	for i, c := range changes {
		if c.up != (i%2 == 1) || c.at < wantAt[i]-50*time.Millisecond || c.at > wantAt[i]+flapSlack {
			t.Errorf("flap: change %d is %s, want %s at %v (+%v); all: %v", i, got[i], map[bool]string{true: "up", false: "down"}[i%2 == 1], wantAt[i], flapSlack, got)
		}
	}
	t.Logf("flap up=%v down=%v count=%d: %v", up, down, count, got)
	if f.Running(h.Proxy) {
		t.Errorf("flap with count=%d still running after its schedule", count)
	}
	undoRestores(t, undo, url, want)
}

// flapSlack is how late a flap's switch may be seen (API round trips and
// the probe's period on a busy machine).
const flapSlack = 400 * time.Millisecond

type phase int

const (
	unsure phase = iota
	isUp
	isDown
)

// flapState is the host's state at offset d into a flap schedule that
// starts down, with flapSlack of doubt after each switch.
func flapState(d, up, down time.Duration, count int) phase {
	var t time.Duration
	for i := 0; i < count; i++ {
		if d < t+down {
			if d < t+flapSlack && i > 0 {
				return unsure
			}
			return isDown
		}
		t += down
		if d < t+flapSlack {
			return unsure
		}
		if i == count-1 || d < t+up {
			return isUp
		}
		t += up
	}
	return isUp
}

func TestFlapState(t *testing.T) {
	const s = time.Second
	for _, tc := range []struct {
		d    time.Duration
		want phase
	}{
		{0, isDown}, {500 * time.Millisecond, isDown}, {s + 100*time.Millisecond, unsure}, {1500 * time.Millisecond, isUp},
		{2*s + 100*time.Millisecond, unsure}, {2500 * time.Millisecond, isDown}, {3*s + 100*time.Millisecond, unsure},
		{3500 * time.Millisecond, isUp}, {time.Hour, isUp},
	} {
		if got := flapState(tc.d, s, s, 2); got != tc.want {
			t.Errorf("flapState(%v, up=1s, down=1s, count=2) = %d, want %d", tc.d, got, tc.want)
		}
	}
}
