package faults_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
	"go.uber.org/goleak"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/harness/faults"
	"github.com/gitchaos/gitchaos/harness/testbed/toxiembed"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, toxiembed.UpstreamLeaks()...)
}

// upstream is a TCP server speaking a tiny protocol: the client sends a
// line "N" or "N close"; the server answers N bytes of a fixed pattern and
// keeps the connection open (or closes it after "close").
type upstream struct {
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	conn map[net.Conn]struct{}
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{ln: ln, conn: map[net.Conn]struct{}{}}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.mu.Lock()
			u.conn[c] = struct{}{}
			u.mu.Unlock()
			u.wg.Add(1)
			go u.serve(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		u.mu.Lock()
		for c := range u.conn {
			c.Close()
		}
		u.mu.Unlock()
		u.wg.Wait()
	})
	return u
}

func (u *upstream) serve(c net.Conn) {
	defer u.wg.Done()
	defer func() {
		c.Close()
		u.mu.Lock()
		delete(u.conn, c)
		u.mu.Unlock()
	}()
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		var n int
		var mode string
		fmt.Sscan(line, &n, &mode)
		if _, err := c.Write(pattern(n)); err != nil {
			return
		}
		if mode == "close" {
			return
		}
	}
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

type bench struct {
	client *toxiclient.Client
	proxy  *toxiclient.Proxy
	addr   string
}

func newBench(t *testing.T) *bench {
	t.Helper()
	ctx := context.Background()
	srv, err := toxiembed.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close toxiproxy: %v", err)
		}
	})
	u := startUpstream(t)
	p, err := srv.Client().CreateProxy("h0", "127.0.0.1:0", u.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(p.Listen, ":0") {
		t.Fatalf("proxy listen address not resolved: %s", p.Listen)
	}
	return &bench{client: srv.Client(), proxy: p, addr: p.Listen}
}

// ask sends one request on a new connection and reads the answer until it
// has want bytes, the connection ends or the deadline passes.
func (b *bench) ask(n int, mode string, want int, deadline time.Duration) (got []byte, elapsed time.Duration, err error) {
	start := time.Now()
	c, err := net.DialTimeout("tcp", b.addr, deadline)
	if err != nil {
		return nil, time.Since(start), err
	}
	defer c.Close()
	c.SetDeadline(start.Add(deadline))
	if _, err := fmt.Fprintf(c, "%d %s\n", n, mode); err != nil {
		return nil, time.Since(start), err
	}
	buf := make([]byte, 0, want)
	tmp := make([]byte, 32*1024)
	for len(buf) < want {
		k, err := c.Read(tmp)
		buf = append(buf, tmp[:k]...)
		if err != nil {
			return buf, time.Since(start), err
		}
	}
	return buf, time.Since(start), nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func inject(t *testing.T, b *bench, f faults.Fault) {
	t.Helper()
	ctx := context.Background()
	if err := f.Inject(ctx, b.proxy); err != nil {
		t.Fatalf("inject %v: %v", f, err)
	}
	t.Cleanup(func() {
		if err := f.Recover(ctx, b.proxy); err != nil {
			t.Errorf("recover %v: %v", f, err)
		}
	})
}

func TestBaseline(t *testing.T) {
	b := newBench(t)
	got, _, err := b.ask(5000, "", 5000, 2*time.Second)
	if err != nil || string(got) != string(pattern(5000)) {
		t.Fatalf("baseline: got %d bytes, err %v", len(got), err)
	}
}

func TestOffline(t *testing.T) {
	b := newBench(t)
	inject(t, b, faults.Offline{})
	_, elapsed, err := b.ask(10, "", 10, 2*time.Second)
	if err == nil || !strings.Contains(err.Error(), "refused") || elapsed > time.Second {
		t.Fatalf("offline: want connection refused fast, got err %v after %v", err, elapsed)
	}
	if err := (faults.Offline{}).Recover(context.Background(), b.proxy); err != nil {
		t.Fatal(err)
	}
	if got, _, err := b.ask(10, "", 10, 2*time.Second); err != nil || len(got) != 10 {
		t.Fatalf("after recover: got %d bytes, err %v", len(got), err)
	}
}

func TestBlackhole(t *testing.T) {
	b := newBench(t)
	f := faults.Blackhole{}
	inject(t, b, f)
	const deadline = 300 * time.Millisecond
	got, elapsed, err := b.ask(10, "", 10, deadline)
	if !isTimeout(err) || len(got) != 0 {
		t.Fatalf("blackhole: want a timeout with no data, got %d bytes, err %v", len(got), err)
	}
	if elapsed < deadline || elapsed > deadline+100*time.Millisecond {
		t.Fatalf("blackhole: returned after %v, want the deadline %v (+100ms)", elapsed, deadline)
	}
	// A held connection is closed when the fault is removed.
	c, err := net.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "10\n")
	readDone := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(c)
		readDone <- err
	}()
	select {
	case err := <-readDone:
		t.Fatalf("blackhole: read returned early: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := f.Recover(context.Background(), b.proxy); err != nil {
		t.Fatal(err)
	}
	select {
	case <-readDone:
	case <-time.After(5 * time.Second):
		t.Fatal("blackhole: held connection not released 5s after recover")
	}
	if got, _, err := b.ask(10, "", 10, 2*time.Second); err != nil || len(got) != 10 {
		t.Fatalf("after recover: got %d bytes, err %v", len(got), err)
	}
}

func TestStall(t *testing.T) {
	b := newBench(t)
	f := faults.Stall{After: 1000}
	inject(t, b, f)
	got, _, err := b.ask(10000, "", 10000, 300*time.Millisecond)
	if !isTimeout(err) || len(got) != 1000 {
		t.Fatalf("stall: want exactly 1000 bytes then a timeout, got %d bytes, err %v", len(got), err)
	}

	// Removing the stall delivers the held bytes: the stream is intact.
	c, err := net.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "10000\n")
	c.SetDeadline(time.Now().Add(5 * time.Second))
	first := make([]byte, 1000)
	if _, err := io.ReadFull(c, first); err != nil {
		t.Fatalf("stall: first 1000 bytes: %v", err)
	}
	if err := f.Recover(context.Background(), b.proxy); err != nil {
		t.Fatal(err)
	}
	rest := make([]byte, 9000)
	if _, err := io.ReadFull(c, rest); err != nil {
		t.Fatalf("stall: rest after recover: %v", err)
	}
	if string(append(first, rest...)) != string(pattern(10000)) {
		t.Fatal("stall: stream corrupted across the stall")
	}
}

// TestStallRecoverDeadConnections: recovering a stall whose clients have
// gone away is quick and leaves no goroutine (toxiproxy's own flush waits
// 5 s per queued chunk when nobody reads; goleak in TestMain checks the rest).
func TestStallRecoverDeadConnections(t *testing.T) {
	b := newBench(t)
	f := faults.Stall{After: 1000}
	if err := f.Inject(context.Background(), b.proxy); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"", "close", "", "close"} { // upstream open, upstream done
		c, err := net.Dial("tcp", b.addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "200000 %s\n", mode)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, make([]byte, 1000)); err != nil {
			t.Fatalf("stall: first 1000 bytes: %v", err)
		}
		c.Close()
	}
	begin := time.Now()
	if err := f.Recover(context.Background(), b.proxy); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("recovering a stall over 4 dead connections took %v, want < 2s", took)
	}
	if got, _, err := b.ask(5000, "", 5000, 2*time.Second); err != nil || len(got) != 5000 {
		t.Fatalf("after recover: got %d bytes, err %v", len(got), err)
	}
}

func TestLatency(t *testing.T) {
	b := newBench(t)
	inject(t, b, faults.MustParse("latency:latency=150ms,jitter=10ms"))
	got, elapsed, err := b.ask(100, "", 100, 3*time.Second)
	if err != nil || len(got) != 100 {
		t.Fatalf("latency: got %d bytes, err %v", len(got), err)
	}
	if elapsed < 140*time.Millisecond {
		t.Fatalf("latency: answer after %v, want >= 140ms", elapsed)
	}
}

func TestBandwidth(t *testing.T) {
	b := newBench(t)
	inject(t, b, faults.Bandwidth{RateKBps: 100})
	const n = 50_000 // 0.5 s at 100 KB/s
	got, elapsed, err := b.ask(n, "", n, 5*time.Second)
	if err != nil || len(got) != n {
		t.Fatalf("bandwidth: got %d bytes, err %v", len(got), err)
	}
	if elapsed < 400*time.Millisecond {
		t.Fatalf("bandwidth: %d bytes in %v at 100 KB/s, want >= 400ms", n, elapsed)
	}
}

func TestReset(t *testing.T) {
	b := newBench(t)
	inject(t, b, faults.Reset{})
	got, elapsed, err := b.ask(10, "", 10, 2*time.Second)
	if err == nil || isTimeout(err) || len(got) != 0 || elapsed > time.Second {
		t.Fatalf("reset: want a fast non-timeout error and no data, got %d bytes, err %v after %v", len(got), err, elapsed)
	}
}

func TestSlowClose(t *testing.T) {
	b := newBench(t)
	inject(t, b, faults.SlowClose{Delay: 400 * time.Millisecond})
	// "close": the server answers and hangs up; the EOF arrives late.
	got, elapsed, err := b.ask(100, "close", 101, 3*time.Second)
	if !errors.Is(err, io.EOF) || len(got) != 100 {
		t.Fatalf("slow-close: want 100 bytes then EOF, got %d bytes, err %v", len(got), err)
	}
	if elapsed < 350*time.Millisecond {
		t.Fatalf("slow-close: EOF after %v, want >= 350ms", elapsed)
	}
}

func TestFlap(t *testing.T) {
	b := newBench(t)
	f := &faults.Flap{Up: 300 * time.Millisecond, Down: 300 * time.Millisecond, Count: 2}
	inject(t, b, f)
	// Sample the schedule: it must show down, up, down and finally up for good.
	var seen []bool
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond) // sampling period
	defer tick.Stop()
	for f.Running(b.proxy) && time.Now().Before(deadline) {
		_, _, err := b.ask(1, "", 1, 200*time.Millisecond)
		up := err == nil
		if len(seen) == 0 || seen[len(seen)-1] != up {
			seen = append(seen, up)
		}
		<-tick.C
	}
	if f.Running(b.proxy) {
		t.Fatalf("flap: still running after 5s (count=2)")
	}
	_, _, err := b.ask(1, "", 1, time.Second)
	if err != nil {
		t.Fatalf("flap: proxy not up after the schedule: %v", err)
	}
	want := []bool{false, true, false}
	if len(seen) < 3 || fmt.Sprint(seen[:3]) != fmt.Sprint(want) {
		t.Fatalf("flap: observed up/down sequence %v, want it to start %v", seen, want)
	}
}

func TestFlapRecoverStopsGoroutine(t *testing.T) {
	b := newBench(t)
	f := faults.MustParse("flap:up=50ms,down=50ms")
	if err := f.Inject(context.Background(), b.proxy); err != nil {
		t.Fatal(err)
	}
	if err := f.Inject(context.Background(), b.proxy); err == nil {
		t.Fatal("flap: second inject on the same proxy succeeded")
	}
	if err := f.Recover(context.Background(), b.proxy); err != nil {
		t.Fatal(err)
	}
	if f.(*faults.Flap).Running(b.proxy) {
		t.Fatal("flap: running after recover")
	}
	if got, _, err := b.ask(10, "", 10, 2*time.Second); err != nil || len(got) != 10 {
		t.Fatalf("after recover: got %d bytes, err %v", len(got), err)
	}
}

func TestRecoverAbsentIsNoop(t *testing.T) {
	b := newBench(t)
	for _, s := range []string{"offline", "blackhole", "stall", "latency:latency=10ms", "bandwidth:rate=10", "reset", "slow-close:delay=10ms", "flap:up=1s,down=1s"} {
		f := faults.MustParse(s)
		if err := f.Recover(context.Background(), b.proxy); err != nil {
			t.Errorf("%s: recover without inject: %v", s, err)
		}
	}
	ts, err := b.proxy.Toxics()
	if err != nil || len(ts) != 0 {
		t.Fatalf("toxics after no-op recovers: %v, %v", ts, err)
	}
}

func TestDoubleInjectRefused(t *testing.T) {
	b := newBench(t)
	f := faults.Blackhole{}
	inject(t, b, f)
	err := f.Inject(context.Background(), b.proxy)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second inject: want an 'already exists' error, got %v", err)
	}
	ts, err := b.proxy.Toxics()
	if err != nil || len(ts) != 2 {
		t.Fatalf("toxics after refused inject: %v, %v (want the 2 of the first)", ts, err)
	}
}

func TestRemoveAll(t *testing.T) {
	b := newBench(t)
	ctx := context.Background()
	for _, f := range []faults.Fault{faults.Blackhole{}, faults.Offline{}, faults.Latency{Latency: time.Second}} {
		if err := f.Inject(ctx, b.proxy); err != nil {
			t.Fatal(err)
		}
	}
	if err := faults.RemoveAll(ctx, b.proxy); err != nil {
		t.Fatal(err)
	}
	if got, _, err := b.ask(10, "", 10, 2*time.Second); err != nil || len(got) != 10 {
		t.Fatalf("after RemoveAll: got %d bytes, err %v", len(got), err)
	}
}

func TestParse(t *testing.T) {
	ok := map[string]string{
		"offline":                          "offline",
		" blackhole ":                      "blackhole",
		"stall":                            "stall:after=1024,stream=downstream",
		"stall:after=16KiB":                "stall:after=16384,stream=downstream",
		"latency:latency=50ms,jitter=10ms": "latency:latency=50ms,jitter=10ms,stream=downstream",
		"latency:latency=1s,stream=both":   "latency:latency=1s,jitter=0s,stream=both",
		"bandwidth:rate=100":               "bandwidth:rate=100,stream=downstream",
		"reset":                            "reset:timeout=0s,stream=upstream",
		"reset:timeout=100ms":              "reset:timeout=100ms,stream=upstream",
		"slow-close:delay=2s":              "slow-close:delay=2s,stream=downstream",
		"flap:up=1s,down=500ms":            "flap:up=1s,down=500ms,count=0",
		"flap:up=1s, down=500ms, count=3":  "flap:up=1s,down=500ms,count=3",
		"hang":                             "hang",
		"http500:count=2":                  "http500:count=2",
		"http500:count=0":                  "http500",
		"hang:op=git-upload-pack":          "hang:op=git-upload-pack",
		"auth:op=info/refs,count=1":        "auth:count=1,op=info/refs",
		"slow:bytes_per_sec=512":           "slow:bytes_per_sec=512",
		"slow:count=3, bytes_per_sec=1 ":   "slow:bytes_per_sec=1,count=3",
	}
	for in, want := range ok {
		f, err := faults.ParseSpec(in)
		if err != nil {
			t.Errorf("Parse(%q): %v", in, err)
			continue
		}
		got := fmt.Sprint(f)
		if got != want {
			t.Errorf("Parse(%q) = %s, want %s", in, got, want)
		}
		// The String form parses back to the same fault.
		again, err := faults.ParseSpec(got)
		if err != nil || fmt.Sprint(again) != got {
			t.Errorf("round trip of %q: %v, %v", got, again, err)
		}
	}
	bad := map[string]string{
		"":                                     "empty fault name",
		"earthquake":                           `unknown fault "earthquake"`,
		"offline:x=1":                          `offline: unknown key "x" (offline takes no parameters)`,
		"latency":                              `latency: missing key "latency"`,
		"latency:latency=fast":                 `latency: latency="fast": not a duration`,
		"latency:latency=50ms,jiter=1ms":       `latency: unknown key "jiter" (known: latency, jitter, stream)`,
		"latency:latency=1500us":               "not a whole number of milliseconds",
		"latency:latency=50ms,latency=60ms":    `key "latency" given twice`,
		"latency:latency=50ms,stream=sideways": `stream="sideways": want downstream, upstream or both`,
		"latency:latency50ms":                  `parameter "latency50ms" is not key=value`,
		"bandwidth:rate=0":                     `bandwidth: rate="0": must be > 0 KB/s`,
		"bandwidth:rate=1.5":                   `rate="1.5": not an integer`,
		"stall:after=lots":                     `stall: after="lots": not a byte size`,
		"reset:timeout=-1s":                    "is negative",
		"slow-close:delay=0s":                  "delay is 0",
		"flap:up=1s":                           `flap: missing key "down"`,
		"flap:up=1s,down=0s":                   "down 0s must be > 0",
		"flap:up=1s,down=1s,count=-2":          `count="-2": must be >= 0`,
		"explode":                              `unknown fault "explode"`,
		"slow":                                 `slow: missing key "bytes_per_sec" (e.g. slow:bytes_per_sec=2048,count=4)`,
		"slow:bytes_per_sec=0":                 `slow: bytes_per_sec="0": must be > 0`,
		"hang:bytes_per_sec=3":                 `hang: unknown key "bytes_per_sec" (known: count, op)`,
		"gone:count=-1":                        `gone: count="-1": must be >= 0`,
		"auth:colour=red":                      `unknown key "colour"`,
		"http500:count":                        `parameter "count" is not key=value`,
		"slow:bytes_per_sec=lots":              `bytes_per_sec="lots": not an integer`,
		"hang:op=push":                         `hang: fault: op "push": want "info/refs", "git-upload-pack" or empty`,
		"slow:bytes_per_sec=1,op=info/refs":    `slow: unknown key "op"`,
	}
	for in, want := range bad {
		_, err := faults.ParseSpec(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q): error %v, want it to contain %q", in, err, want)
		}
	}
}

// TestCatalog checks every row of the catalog: a one-line doc, each param
// documented, a syntax made from them, an example that parses to the row's
// fault and whose String form parses back to the same; network rows build
// a Fault, repo rows a RepoFault; and every gitserver mode has a repo row.
func TestCatalog(t *testing.T) {
	seen := map[string]bool{}
	for _, info := range faults.Catalog() {
		if seen[info.Name] {
			t.Errorf("%s: listed twice", info.Name)
		}
		seen[info.Name] = true
		if info.Doc == "" || strings.Contains(info.Doc, "\n") {
			t.Errorf("%s: want a one-line doc, got %q", info.Name, info.Doc)
		}
		if !strings.HasPrefix(info.Syntax, info.Name) {
			t.Errorf("%s: syntax %q does not start with the name", info.Name, info.Syntax)
		}
		for _, p := range info.Params {
			if p.Key == "" || p.Value == "" || p.Doc == "" || strings.Contains(p.Doc, "\n") {
				t.Errorf("%s: param %+v: want a key, a value form and a one-line doc", info.Name, p)
			}
			if !strings.Contains(info.Syntax, p.Key+"="+p.Value) {
				t.Errorf("%s: syntax %q lacks %s=%s", info.Name, info.Syntax, p.Key, p.Value)
			}
		}
		f, err := faults.ParseSpec(info.Example)
		if err != nil || f.Name() != info.Name {
			t.Errorf("%s: example %q does not parse to it: %v, %v", info.Name, info.Example, f, err)
			continue
		}
		again, err := faults.ParseSpec(f.String())
		if err != nil || again.String() != f.String() || fmt.Sprintf("%#v", again) != fmt.Sprintf("%#v", f) {
			t.Errorf("%s: %q does not parse back to itself: %#v, %v", info.Name, f.String(), again, err)
		}
		switch f.(type) {
		case faults.Fault:
			if info.Kind != faults.KindNetwork {
				t.Errorf("%s: builds a network Fault, row says kind %q", info.Name, info.Kind)
			}
		case faults.RepoFault:
			if info.Kind != faults.KindRepo {
				t.Errorf("%s: builds a RepoFault, row says kind %q", info.Name, info.Kind)
			}
		case faults.DiskFault:
			if info.Kind != faults.KindDisk {
				t.Errorf("%s: builds a DiskFault, row says kind %q", info.Name, info.Kind)
			}
		default:
			t.Errorf("%s: builds a %T, neither a Fault nor a RepoFault", info.Name, f)
		}
	}
	for _, m := range gitserver.FaultModes() {
		if info, ok := faults.Lookup(string(m)); !ok || info.Kind != faults.KindRepo {
			t.Errorf("gitserver mode %q has no repo row in the catalog", m)
		}
	}
	if got := faults.Names(); len(got) != len(faults.Catalog()) || got[0] != "offline" {
		t.Errorf("Names() = %v", got)
	}
	if in, _ := faults.Lookup("latency"); in.Syntax != "latency:latency=DUR[,jitter=DUR][,stream=downstream|upstream|both]" {
		t.Errorf("latency syntax = %q", in.Syntax)
	}
	if in, _ := faults.Lookup("stall"); in.Syntax != "stall[:after=SIZE][,stream=downstream|upstream|both]" {
		t.Errorf("stall syntax = %q", in.Syntax)
	}
}

// TestParseKinds: Parse wants a network fault, ParseRepo a repo fault.
func TestParseKinds(t *testing.T) {
	if _, err := faults.Parse("hang"); err == nil || !strings.Contains(err.Error(), "hang is a repo fault, not a network fault") {
		t.Errorf("Parse(hang): %v", err)
	}
	if _, err := faults.ParseRepo("blackhole"); err == nil || !strings.Contains(err.Error(), "blackhole is a network fault, not a repo fault") {
		t.Errorf("ParseRepo(blackhole): %v", err)
	}
	if f, err := faults.ParseRepo("hang:op=git-upload-pack"); err != nil || f.Fault != (gitserver.Fault{Mode: gitserver.FaultHang, Op: gitserver.OpUploadPack}) {
		t.Errorf("ParseRepo(hang:op=git-upload-pack) = %+v, %v", f, err)
	}
	if f := faults.MustParse("blackhole"); f != (faults.Blackhole{}) {
		t.Errorf("MustParse(blackhole) = %v", f)
	}
}
