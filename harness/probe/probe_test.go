package probe_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gitchaos/gitchaos/harness/eventually/eventuallytest"
	"github.com/gitchaos/gitchaos/harness/probe"
	"github.com/gitchaos/gitchaos/harness/probe/probetest"
)

var long = flag.Bool("long", false, "run the long sampling-cost measurement (20 s at 10 Hz)")

func TestMain(m *testing.M) {
	probetest.MaybeRunHelper()
	goleak.VerifyTestMain(m)
}

func sample(t *testing.T, src probe.Source) probe.Sample {
	t.Helper()
	smp, err := src.Sample(context.Background())
	if err != nil {
		t.Fatalf("sample %s: %v", src.Name(), err)
	}
	return smp
}

func get(t *testing.T, smp probe.Sample, metric string) float64 {
	t.Helper()
	v, ok := smp.Get(metric)
	if !ok {
		t.Fatalf("%s not measured (unavailable: %q; have %v)", metric, smp.Unavailable[metric], smp.Metrics())
	}
	return v
}

// waitFor polls src until cond(value of metric) holds or 10s pass, and
// fails with the last value seen.
func waitFor(t *testing.T, src probe.Source, metric, want string, cond func(float64) bool) float64 {
	t.Helper()
	var last float64
	eventuallytest.Require(t, 10*time.Second, fmt.Sprintf("%s of %s %s", metric, src.Name(), want), func() (bool, any) {
		last = get(t, sample(t, src), metric)
		return cond(last), last
	})
	return last
}

// lockThreads starts n goroutines in this process that each hold an OS
// thread (locked, blocked in a raw read); release ends them and their threads.
func lockThreads(t *testing.T, n int) (release func()) {
	t.Helper()
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		t.Fatalf("pipe: %v", err)
	}
	done := make(chan struct{}, n)
	for range n {
		go func() {
			defer func() { done <- struct{}{} }()
			runtime.LockOSThread()
			var b [1]byte
			for {
				if _, err := syscall.Read(p[0], b[:]); err != syscall.EINTR {
					return
				}
			}
		}()
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			for range n {
				_, _ = syscall.Write(p[1], []byte{0})
			}
			for range n {
				<-done
			}
			syscall.Close(p[0])
			syscall.Close(p[1])
		})
	}
	t.Cleanup(release)
	return release
}

// procStatCPU is utime+stime of /proc/self/stat in seconds (a different
// source from the getrusage the Self probe reads).
func procStatCPU(t *testing.T) float64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("parse /proc/self/stat: %v %v", err1, err2)
	}
	return (ut + st) / 100 // USER_HZ
}

func TestSelfMeasuresThisProcess(t *testing.T) {
	src := probe.Self()
	base := sample(t, src)
	for _, m := range []string{probe.FDs, probe.RSS, probe.Heap, probe.Goroutines, probe.Threads, probe.CPU} {
		if v := get(t, base, m); v <= 0 && m != probe.CPU {
			t.Errorf("%s = %v, want > 0", m, v)
		}
	}
	if len(base.Unavailable) != 0 {
		t.Errorf("unavailable: %v, want none", base.Unavailable)
	}

	// fds: exactly +5, and back.
	fd0 := get(t, base, probe.FDs)
	var files []*os.File
	for range 5 {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	waitFor(t, src, probe.FDs, fmt.Sprintf("%v (+5)", fd0+5), func(v float64) bool { return v == fd0+5 })
	for _, f := range files {
		f.Close()
	}
	waitFor(t, src, probe.FDs, fmt.Sprint(fd0), func(v float64) bool { return v == fd0 })

	// goroutines: exactly +10, and back.
	g0 := get(t, sample(t, src), probe.Goroutines)
	stop := make(chan struct{})
	exited := make(chan struct{}, 10)
	for range 10 {
		go func() { <-stop; exited <- struct{}{} }()
	}
	waitFor(t, src, probe.Goroutines, fmt.Sprint(g0+10), func(v float64) bool { return v == g0+10 })
	close(stop)
	for range 10 {
		<-exited
	}
	waitFor(t, src, probe.Goroutines, fmt.Sprint(g0), func(v float64) bool { return v == g0 })

	// heap after GC: +32 MiB while held, back under +4 MiB after.
	h0 := get(t, sample(t, src), probe.Heap)
	held := make([]byte, 32<<20)
	for i := 0; i < len(held); i += 4096 {
		held[i] = 1
	}
	h1 := get(t, sample(t, src), probe.Heap)
	if h1 < h0+31<<20 {
		t.Errorf("heap with 32 MiB held: %v, want >= %v (+31 MiB)", h1, h0+31<<20)
	}
	runtime.KeepAlive(held)
	held = nil
	_ = held
	waitFor(t, src, probe.Heap, fmt.Sprintf("< %v", h0+4<<20), func(v float64) bool { return v < h0+4<<20 })

	// threads: 20 goroutines each holding a thread need at least 22
	// (plus one to run everything else and sysmon), whatever idle threads
	// existed; when they exit locked, their threads end.
	th0 := get(t, sample(t, src), probe.Threads)
	release := lockThreads(t, 20)
	th := waitFor(t, src, probe.Threads, fmt.Sprintf(">= 22 (was %v)", th0), func(v float64) bool { return v >= 22 })
	release()
	waitFor(t, src, probe.Threads, fmt.Sprintf("<= %v (10 fewer than while held)", th-10), func(v float64) bool { return v <= th-10 })

	// CPU: spinning until /proc/self/stat shows 0.2s more CPU time shows
	// at least that much more in the probe too.
	c0 := get(t, sample(t, src), probe.CPU)
	p0 := procStatCPU(t)
	for x := 0; procStatCPU(t) < p0+0.2; x++ {
		for i := range 100000 {
			x += i
		}
	}
	if c1 := get(t, sample(t, src), probe.CPU); c1 < c0+0.2-0.02 {
		t.Errorf("cpu after spinning 0.2s of CPU (per /proc/self/stat): %v -> %v, want +>= 0.18s", c0, c1)
	}
}

func TestPIDMeasuresAnotherProcess(t *testing.T) {
	h := probetest.Start(t)
	src, err := probe.PID(h.PID)
	if err != nil {
		t.Fatal(err)
	}
	if src.Name() != "pid "+strconv.Itoa(h.PID) {
		t.Errorf("name %q", src.Name())
	}
	base := sample(t, src)
	for _, m := range []string{probe.Heap, probe.Goroutines} {
		if v, ok := base.Get(m); ok {
			t.Errorf("%s measured from outside as %v, want unavailable", m, v)
		}
		if base.Unavailable[m] == "" {
			t.Errorf("%s: no unavailable reason", m)
		}
	}
	fd0, rss0, th0, cpu0 := get(t, base, probe.FDs), get(t, base, probe.RSS), get(t, base, probe.Threads), get(t, base, probe.CPU)

	h.MustDo(t, "fd 10")
	waitFor(t, src, probe.FDs, fmt.Sprint(fd0+10), func(v float64) bool { return v == fd0+10 })

	h.MustDo(t, "heap 67108864") // 64 MiB, touched
	waitFor(t, src, probe.RSS, fmt.Sprintf(">= %v (+60 MiB)", rss0+60<<20), func(v float64) bool { return v >= rss0+60<<20 })

	h.MustDo(t, "spin 300ms")
	waitFor(t, src, probe.CPU, fmt.Sprintf(">= %v", cpu0+0.2), func(v float64) bool { return v >= cpu0+0.2 })

	h.MustDo(t, "thread 20") // 20 goroutines each holding a thread: >= 22 threads
	th := waitFor(t, src, probe.Threads, fmt.Sprintf(">= 22 (was %v)", th0), func(v float64) bool { return v >= 22 })

	h.MustDo(t, "free")
	// fds: the ten leaked ones are closed; the thread pipe (2) stays open.
	waitFor(t, src, probe.FDs, fmt.Sprint(fd0+2), func(v float64) bool { return v == fd0+2 })
	// Goroutines that exit while locked end their OS thread: the held
	// threads go away (the runtime may start a few others meanwhile).
	waitFor(t, src, probe.Threads, fmt.Sprintf("<= %v (10 fewer than while held)", th-10), func(v float64) bool { return v <= th-10 })
}

func TestPIDChildren(t *testing.T) {
	h := probetest.Start(t)
	alone, err := probe.PID(h.PID)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := probe.PID(h.PID, probe.PIDOptions{Children: true})
	if err != nil {
		t.Fatal(err)
	}
	a, b := sample(t, alone), sample(t, tree)
	if get(t, a, probe.Threads) != get(t, b, probe.Threads) {
		t.Logf("threads alone %v, with children %v (no children yet)", get(t, a, probe.Threads), get(t, b, probe.Threads))
	}
	pid := h.MustDo(t, "child")
	cpid, err := strconv.Atoi(pid)
	if err != nil {
		t.Fatalf("child pid %q: %v", pid, err)
	}
	child, err := probe.PID(cpid)
	if err != nil {
		t.Fatal(err)
	}
	// The child is a Go process: it has several threads and fds of its own.
	cth := waitFor(t, child, probe.Threads, ">= 2", func(v float64) bool { return v >= 2 })
	eventuallytest.Require(t, 10*time.Second, "the tree's threads, fds and RSS include the child's", func() (bool, any) {
		a, b = sample(t, alone), sample(t, tree)
		return get(t, b, probe.Threads) >= get(t, a, probe.Threads)+cth-1 && get(t, b, probe.FDs) >= get(t, a, probe.FDs)+3 && get(t, b, probe.RSS) > get(t, a, probe.RSS),
			fmt.Sprintf("with children: threads %v fds %v rss %v; alone: threads %v fds %v rss %v; child threads %v",
				get(t, b, probe.Threads), get(t, b, probe.FDs), get(t, b, probe.RSS), get(t, a, probe.Threads), get(t, a, probe.FDs), get(t, a, probe.RSS), cth)
	})
	h.MustDo(t, "free") // kills and reaps the child
	if _, err := child.Sample(context.Background()); !errors.Is(err, probe.ErrProcessGone) {
		t.Errorf("sample of the killed child: %v, want ErrProcessGone", err)
	}
}

// A killed child its parent has not reaped yet is a zombie: gone, not a
// process with 0 fds.
func TestPIDZombie(t *testing.T) {
	h := probetest.Start(t)
	out := h.MustDo(t, "zombie")
	zpid, err := strconv.Atoi(out)
	if err != nil {
		t.Fatalf("zombie pid %q: %v", out, err)
	}
	src, err := probe.PID(zpid)
	if err != nil {
		t.Fatal(err) // /proc/<pid> still exists
	}
	// The kill is asynchronous.
	eventuallytest.Require(t, 10*time.Second, "a zombie's sample is ErrProcessGone (zombie)", func() (bool, any) {
		_, err := src.Sample(context.Background())
		return errors.Is(err, probe.ErrProcessGone) && strings.Contains(fmt.Sprint(err), "zombie"), err
	})
	h.MustDo(t, "free") // reaps it
}

func TestPIDGoneAndBadInput(t *testing.T) {
	if _, err := probe.PID(0); err == nil {
		t.Error("PID(0): no error")
	}
	if _, err := probe.PID(1, probe.PIDOptions{}, probe.PIDOptions{}); err == nil {
		t.Error("PID with two options: no error")
	}
	h := probetest.Start(t)
	src, err := probe.PID(h.PID)
	if err != nil {
		t.Fatal(err)
	}
	sample(t, src)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = src.Sample(context.Background())
	if !errors.Is(err, probe.ErrProcessGone) {
		t.Fatalf("sample after exit: %v, want ErrProcessGone", err)
	}
	if _, err := probe.PID(h.PID); !errors.Is(err, probe.ErrProcessGone) {
		t.Errorf("PID of an exited process: %v, want ErrProcessGone", err)
	}
}

func TestHTTPStats(t *testing.T) {
	body := `{"repo_locks": 3, "repos": 2, "repos_last_fetched": 2, "rss_kb": 1024,
		"nested": {"a": 1.5, "b": {"c": 7}}, "ok": true, "version": "1.2", "list": [1, 2]}`
	var status = http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	defer srv.Close()
	src, err := probe.HTTPStats(srv.URL+"/stats", probe.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.(interface{ Close() error }).Close()
	smp := sample(t, src)
	want := map[string]float64{"repo_locks": 3, "repos": 2, "repos_last_fetched": 2, "rss_kb": 1024,
		probe.RSS: 1024 * 1024, "nested.a": 1.5, "nested.b.c": 7, "ok": 1}
	for k, v := range want {
		if got := get(t, smp, k); got != v {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
	if len(smp.Values) != len(want) {
		t.Errorf("metrics %v, want exactly %d (strings and arrays ignored)", smp.Metrics(), len(want))
	}
	if smp.Origin[probe.RSS] != srv.URL+"/stats (from rss_kb)" {
		t.Errorf("rss origin %q", smp.Origin[probe.RSS])
	}
	for _, m := range []string{probe.Heap, probe.Goroutines} {
		if _, ok := smp.Get(m); ok || smp.Unavailable[m] == "" {
			t.Errorf("%s: want unavailable with a reason, got %v", m, smp.Unavailable)
		}
	}

	body = `[1, 2]`
	if _, err := src.Sample(context.Background()); err == nil {
		t.Error("array body: no error")
	}
	body, status = `{"repos": 1}`, http.StatusInternalServerError
	if _, err := src.Sample(context.Background()); err == nil {
		t.Error("status 500: no error")
	}
	for _, bad := range []string{"", "ftp://x/y", "http://", "://"} {
		if _, err := probe.HTTPStats(bad, probe.HTTPOptions{}); err == nil {
			t.Errorf("HTTPStats(%q): no error", bad)
		}
	}
	if _, err := probe.HTTPStats(srv.URL, probe.HTTPOptions{Timeout: -1}); err == nil {
		t.Error("negative timeout: no error")
	}
}

// A real process's stats endpoint and its PID combined, as the harness
// samples an external target.
func TestCombineHelper(t *testing.T) {
	h := probetest.Start(t)
	pid, err := probe.PID(h.PID)
	if err != nil {
		t.Fatal(err)
	}
	stats, err := probe.HTTPStats(h.StatsURL, probe.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := probe.Dir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	src, err := probe.Combine(stats, pid, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.(interface{ Close() error }).Close()
	smp := sample(t, src)
	for m, origin := range map[string]string{probe.FDs: pid.Name(), probe.RSS: pid.Name(), probe.Goroutines: h.StatsURL, probe.Heap: h.StatsURL, probe.Disk: dir.Name(), "leaked_fds": h.StatsURL} {
		get(t, smp, m)
		if smp.Origin[m] != origin {
			t.Errorf("%s from %q, want %q", m, smp.Origin[m], origin)
		}
	}
	if len(smp.Unavailable) != 0 {
		t.Errorf("unavailable %v: every metric is measured by some source", smp.Unavailable)
	}
	g0 := get(t, smp, probe.Goroutines)
	h0 := get(t, smp, probe.Heap)
	h.MustDo(t, "go 20")
	h.MustDo(t, "heap 8388608")
	waitFor(t, src, probe.Goroutines, fmt.Sprint(g0+20), func(v float64) bool { return v == g0+20 })
	waitFor(t, src, probe.Heap, fmt.Sprintf(">= %v", h0+8<<20), func(v float64) bool { return v >= h0+8<<20 })

	// One source failing: its metrics are absent, the rest still measured.
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	smp = sample(t, src)
	if len(smp.SourceErrors) != 2 {
		t.Errorf("source errors %v, want stats and pid", smp.SourceErrors)
	}
	if _, ok := smp.Get(probe.FDs); ok {
		t.Error("fds of an exited process measured")
	}
	get(t, smp, probe.Disk)

	only, err := probe.Combine(stats, pid)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := only.Sample(context.Background()); err == nil {
		t.Error("every source failing: no error")
	}
	if _, err := probe.Combine(); err == nil {
		t.Error("Combine(): no error")
	}
	if _, err := probe.Combine(stats, nil); err == nil {
		t.Error("Combine with nil: no error")
	}
}

func TestCombineMissingIsUnavailableNotZero(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"repos": 4, "rss_kb": 10}`)
	}))
	defer srv.Close()
	stats, err := probe.HTTPStats(srv.URL, probe.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	self := probe.Self(probe.SelfOptions{SkipGC: true})
	// Python-like target: the endpoint has no goroutines or heap.
	src, err := probe.Combine(stats)
	if err != nil {
		t.Fatal(err)
	}
	defer src.(interface{ Close() error }).Close()
	smp := sample(t, src)
	for _, m := range []string{probe.Goroutines, probe.Heap, probe.FDs} {
		if v, ok := smp.Get(m); ok {
			t.Errorf("%s = %v, want unavailable", m, v)
		}
	}
	if smp.Unavailable[probe.Goroutines] == "" {
		t.Errorf("goroutines: no reason in %v", smp.Unavailable)
	}
	// A direct RSS measurement beats the endpoint's rss_kb in either order.
	for _, order := range [][]probe.Source{{stats, self}, {self, stats}} {
		c, err := probe.Combine(order...)
		if err != nil {
			t.Fatal(err)
		}
		smp := sample(t, c)
		if smp.Origin[probe.RSS] != "self" || get(t, smp, probe.RSS) == 10*1024 {
			t.Errorf("%s: rss %v from %q, want self's", c.Name(), get(t, smp, probe.RSS), smp.Origin[probe.RSS])
		}
		if _, ok := smp.Unavailable[probe.Goroutines]; ok {
			t.Errorf("%s: goroutines unavailable although self measures them", c.Name())
		}
	}
}

func TestDir(t *testing.T) {
	root := t.TempDir()
	base := filepath.Join(root, "base")
	src, err := probe.Dir(base)
	if err != nil {
		t.Fatal(err)
	}
	smp := sample(t, src)
	if get(t, smp, probe.Disk) != 0 || get(t, smp, probe.DiskFiles) != 0 {
		t.Errorf("missing dir: %v, want 0 bytes, 0 files", smp.Values)
	}
	if err := os.MkdirAll(filepath.Join(base, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	for p, n := range map[string]int{"x": 1000, "a/y": 24, "a/b/z": 1 << 20} {
		if err := os.WriteFile(filepath.Join(base, p), make([]byte, n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(base, "a/b/z"), filepath.Join(base, "link")); err != nil {
		t.Fatal(err)
	}
	smp = sample(t, src)
	if get(t, smp, probe.Disk) != 1000+24+1<<20 || get(t, smp, probe.DiskFiles) != 3 {
		t.Errorf("dir: %v, want %d bytes in 3 files (symlink not followed)", smp.Values, 1000+24+1<<20)
	}

	// Unreadable: a path through a regular file.
	bad, err := probe.Dir(filepath.Join(base, "x", "sub"))
	if err != nil {
		t.Fatal(err)
	}
	smp = sample(t, bad)
	if v, ok := smp.Get(probe.Disk); ok {
		t.Errorf("unreadable dir: disk_bytes = %v, want unavailable", v)
	}
	if smp.Unavailable[probe.Disk] == "" {
		t.Errorf("unreadable dir: no reason: %v", smp.Unavailable)
	}
	if os.Geteuid() != 0 { // root reads anything
		locked := filepath.Join(base, "a")
		if err := os.Chmod(locked, 0); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(locked, 0o755)
		smp = sample(t, src)
		if _, ok := smp.Get(probe.Disk); ok || smp.Unavailable[probe.Disk] == "" {
			t.Errorf("mode 000 subdir: %v / %v, want unavailable", smp.Values, smp.Unavailable)
		}
	}
	if _, err := probe.Dir(""); err == nil {
		t.Error(`Dir(""): no error`)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := src.Sample(ctx); err == nil {
		t.Error("cancelled ctx: no error")
	}
}

// TestSelfNoThreads: with NoThreads the threads metric is unavailable with
// that reason (an in-process target's threads are the harness's), and the
// rest is still measured.
func TestSelfNoThreads(t *testing.T) {
	const why = "shared with the harness"
	smp := sample(t, probe.Self(probe.SelfOptions{NoThreads: why}))
	if v, ok := smp.Values[probe.Threads]; ok {
		t.Errorf("threads measured (%v), want unavailable", v)
	}
	if got := smp.Unavailable[probe.Threads]; got != why {
		t.Errorf("threads unavailable because %q, want %q", got, why)
	}
	if v := get(t, smp, probe.FDs); v <= 0 {
		t.Errorf("fds = %v, want > 0", v)
	}
}
