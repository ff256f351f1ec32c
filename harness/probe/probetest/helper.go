// Package probetest runs a real helper process for tests of probes and
// leak verdicts: the test binary re-executes itself (call MaybeRunHelper
// first thing in TestMain) and then opens fds, starts goroutines,
// allocates heap, locks OS threads, burns CPU and runs leak/noise cycles
// on command over stdin. It serves its own heap and goroutine counts on
// an HTTP stats endpoint, as a real target does. Sampler records a probe
// source in the background and cuts its series into cycles by markers,
// for the studies and tests that sample a helper; the gates sample
// through the scenarios' own cycle series.
package probetest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// EnvHelper, when set in a test binary's environment, makes
// MaybeRunHelper act as the helper: "serve" for a commanded helper,
// "idle" for a child that only waits for stdin to close.
const EnvHelper = "GITCHAOS_PROBE_HELPER"

// MaybeRunHelper runs the helper and exits if EnvHelper is set; otherwise
// it returns at once. Call it first in TestMain.
func MaybeRunHelper() {
	switch os.Getenv(EnvHelper) {
	case "":
		return
	case "idle":
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	case "serve":
		if err := serve(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "probetest helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	default:
		fmt.Fprintf(os.Stderr, "probetest helper: %s=%q: want serve or idle\n", EnvHelper, os.Getenv(EnvHelper))
		os.Exit(2)
	}
}

// ---- helper side ----

type state struct {
	mu       sync.Mutex
	fds      []*os.File
	stop     chan struct{} // closed by free: leaked goroutines exit
	heap     [][]byte
	cache    [][]byte // sawtooth: grows each cycle, dropped every k cycles
	thrW     int      // write end of the thread pipe (-1 when none)
	thrR     int
	threads  int
	children []*exec.Cmd
	cycles   int
	acc      map[string]float64 // fractional leak accumulators
	rng      *rand.Rand
}

func serve(in io.Reader, out io.Writer) error {
	st := &state{stop: make(chan struct{}), thrW: -1, thrR: -1, acc: map[string]float64{}, rng: rand.New(rand.NewPCG(uint64(os.Getpid()), uint64(time.Now().UnixNano())))}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(st.stats), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	defer st.free()
	fmt.Fprintf(out, "ready http://%s/stats\n", ln.Addr())
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if line == "exit" {
			fmt.Fprintln(out, "ok")
			return nil
		}
		reply, err := st.do(line)
		if err != nil {
			fmt.Fprintf(out, "err %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
			continue
		}
		fmt.Fprintf(out, "ok %s\n", reply)
	}
	return sc.Err()
}

// stats reports goroutines and heap in use after a forced GC (plus the
// heap before it), as a well-behaved target's stats endpoint would.
func (st *state) stats(w http.ResponseWriter, _ *http.Request) {
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st.mu.Lock()
	body := map[string]any{
		"goroutines":       runtime.NumGoroutine(),
		"heap_bytes":       ms.HeapAlloc,
		"heap_alloc_bytes": before.HeapAlloc,
		"cycles":           st.cycles,
		"leaked_fds":       len(st.fds),
		"healthy":          true,
		"name":             "probetest", // not numeric: ignored by probes
	}
	st.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

func (st *state) do(line string) (string, error) {
	f := strings.Fields(line)
	cmd, args := f[0], f[1:]
	n := 0
	if len(args) == 1 && (cmd == "fd" || cmd == "go" || cmd == "heap" || cmd == "thread") {
		v, err := strconv.Atoi(args[0])
		if err != nil || v < 0 {
			return "", fmt.Errorf("%s: count %q: want an integer >= 0", cmd, args[0])
		}
		n = v
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	switch cmd {
	case "fd":
		return "", st.openFDs(n)
	case "go":
		st.startGoroutines(n)
		return "", nil
	case "heap":
		st.heap = append(st.heap, touched(n))
		return "", nil
	case "thread":
		return "", st.lockThreads(n)
	case "spin":
		if len(args) != 1 {
			return "", errors.New("spin: want a duration")
		}
		d, err := time.ParseDuration(args[0])
		if err != nil {
			return "", fmt.Errorf("spin: %w", err)
		}
		spin(d)
		return "", nil
	case "child":
		return st.child()
	case "zombie":
		// A child killed and not reaped (until free) stays a zombie.
		pid, err := st.child()
		if err != nil {
			return "", err
		}
		c := st.children[len(st.children)-1]
		if err := c.Process.Signal(syscall.SIGKILL); err != nil {
			return "", fmt.Errorf("zombie: kill: %w", err)
		}
		return pid, nil
	case "free":
		st.freeLocked()
		return "", nil
	case "cycle":
		return st.cycle(args)
	}
	return "", fmt.Errorf("unknown command %q", cmd)
}

func (st *state) openFDs(n int) error {
	for range n {
		f, err := os.Open(os.DevNull)
		if err != nil {
			return fmt.Errorf("open %s: %w", os.DevNull, err)
		}
		st.fds = append(st.fds, f)
	}
	return nil
}

func (st *state) startGoroutines(n int) {
	stop := st.stop
	for range n {
		go func() { <-stop }()
	}
}

// touched allocates n bytes and writes every page so they are resident.
func touched(n int) []byte {
	b := make([]byte, n)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	return b
}

// lockThreads starts n goroutines that lock their OS thread and block in
// a raw read on a pipe, so each holds a thread; free writes a byte for
// each and they exit still locked, which ends their threads.
func (st *state) lockThreads(n int) error {
	if st.thrR < 0 {
		var p [2]int
		if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
			return fmt.Errorf("pipe: %w", err)
		}
		st.thrR, st.thrW = p[0], p[1]
	}
	r := st.thrR
	for range n {
		go func() {
			runtime.LockOSThread()
			var b [1]byte
			for {
				_, err := syscall.Read(r, b[:])
				if err != syscall.EINTR {
					return
				}
			}
		}()
	}
	st.threads += n
	return nil
}

// spin burns d of CPU time (not wall time: on a loaded machine the two
// differ), as counted by getrusage.
func spin(d time.Duration) {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	end := cpu() + d
	x := 0
	for cpu() < end {
		for i := range 100000 {
			x += i
		}
	}
	_ = x
}

func (st *state) child() (string, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), EnvHelper+"=idle", "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	if _, err := cmd.StdinPipe(); err != nil {
		return "", fmt.Errorf("child: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("child: start: %w", err)
	}
	st.children = append(st.children, cmd)
	return strconv.Itoa(cmd.Process.Pid), nil
}

func (st *state) free() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.freeLocked()
}

func (st *state) freeLocked() {
	for _, f := range st.fds {
		f.Close()
	}
	st.fds = nil
	close(st.stop)
	st.stop = make(chan struct{})
	st.heap, st.cache = nil, nil
	if st.thrW >= 0 {
		for range st.threads {
			_, _ = syscall.Write(st.thrW, []byte{0})
		}
		st.threads = 0
	}
	for _, c := range st.children {
		_ = c.Process.Kill()
		_ = c.Wait()
	}
	st.children = nil
	st.acc = map[string]float64{}
}

// cycle runs one cycle. Parameters (key=value):
//
//	fd=R go=R heap=BYTES   leak R fds / goroutines per cycle (fractions
//	                       accumulate: fd=0.25 leaks one every 4 cycles)
//	                       and BYTES of heap per cycle
//	noise=1                temporary work: tmpheap bytes (default 8 MiB,
//	                       varied ±50%), tmpfd fds (8), tmpgo goroutines (8)
//	                       held for hold (20ms), then released; a random
//	                       explicit GC half the time
//	cache=BYTES every=K    sawtooth: a cache grows by BYTES per cycle and is
//	                       dropped every K cycles
func (st *state) cycle(args []string) (string, error) {
	p := map[string]string{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return "", fmt.Errorf("cycle: argument %q: want key=value", a)
		}
		p[k] = v
	}
	num := func(k string, def float64) (float64, error) {
		v, ok := p[k]
		if !ok {
			return def, nil
		}
		delete(p, k)
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || x < 0 {
			return 0, fmt.Errorf("cycle: %s=%q: want a number >= 0", k, v)
		}
		return x, nil
	}
	fdRate, err1 := num("fd", 0)
	goRate, err2 := num("go", 0)
	heapRate, err3 := num("heap", 0)
	noise, err4 := num("noise", 0)
	tmpHeap, err5 := num("tmpheap", 8<<20)
	tmpFD, err6 := num("tmpfd", 8)
	tmpGo, err7 := num("tmpgo", 8)
	cache, err8 := num("cache", 0)
	every, err9 := num("every", 4)
	holdS, ok := p["hold"]
	delete(p, "hold")
	hold := 20 * time.Millisecond
	var err10 error
	if ok {
		hold, err10 = time.ParseDuration(holdS)
	}
	if err := errors.Join(err1, err2, err3, err4, err5, err6, err7, err8, err9, err10); err != nil {
		return "", err
	}
	for k := range p {
		return "", fmt.Errorf("cycle: unknown parameter %q", k)
	}
	st.cycles++
	if noise > 0 {
		size := int(tmpHeap * (0.5 + st.rng.Float64()))
		var tmp [][]byte
		for left := size; left > 0; left -= 64 << 10 {
			tmp = append(tmp, touched(min(left, 64<<10)))
		}
		var files []*os.File
		for range int(tmpFD) {
			f, err := os.Open(os.DevNull)
			if err != nil {
				return "", fmt.Errorf("cycle: open %s: %w", os.DevNull, err)
			}
			files = append(files, f)
		}
		done := make(chan struct{})
		var wg sync.WaitGroup
		for range int(tmpGo) {
			wg.Go(func() { <-done })
		}
		time.Sleep(hold) // the temporary work's duration
		close(done)
		wg.Wait()
		for _, f := range files {
			f.Close()
		}
		runtime.KeepAlive(tmp)
		if st.rng.IntN(2) == 0 {
			runtime.GC()
		}
	}
	if cache > 0 {
		if every > 0 && st.cycles%int(every) == 0 {
			st.cache = nil
		} else {
			st.cache = append(st.cache, touched(int(cache)))
		}
	}
	leak := func(k string, rate float64, f func(n int) error) error {
		st.acc[k] += rate
		n := int(st.acc[k] + 1e-9)
		st.acc[k] -= float64(n)
		if n == 0 {
			return nil
		}
		return f(n)
	}
	if err := leak("fd", fdRate, st.openFDs); err != nil {
		return "", err
	}
	_ = leak("go", goRate, func(n int) error { st.startGoroutines(n); return nil })
	if heapRate > 0 {
		st.heap = append(st.heap, touched(int(heapRate)))
	}
	return strconv.Itoa(st.cycles), nil
}

// ---- test side ----

// Helper is a running helper process.
type Helper struct {
	PID      int
	StatsURL string

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Reader
	stderr *lockedWriter
	mu     sync.Mutex
	closed bool
}

// TB is the part of testing.TB Start needs.
type TB interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
}

// Start re-executes the test binary as a helper and waits for it to be
// ready; t.Cleanup stops it. The test binary's TestMain must call
// MaybeRunHelper.
func Start(t TB) *Helper {
	t.Helper()
	h, err := StartHelper()
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// StartHelper is Start without a testing.TB; the caller must Close it.
func StartHelper() (*Helper, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	// A -race helper would otherwise sleep 1s at exit.
	cmd.Env = append(os.Environ(), EnvHelper+"=serve", "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	stderr := &lockedWriter{}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("probetest: helper stdin: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("probetest: helper stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("probetest: start helper %s: %w", os.Args[0], err)
	}
	h := &Helper{PID: cmd.Process.Pid, cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout), stderr: stderr}
	line, err := h.out.ReadString('\n')
	if err != nil {
		_ = h.Close()
		return nil, fmt.Errorf("probetest: helper pid %d did not start: %w (stderr: %s)", h.PID, err, stderr.String())
	}
	u, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	if !ok {
		_ = h.Close()
		return nil, fmt.Errorf("probetest: helper pid %d: first line %q: want \"ready <url>\"", h.PID, line)
	}
	h.StatsURL = u
	return h, nil
}

// lockedWriter keeps the first 64 KiB of the helper's stderr.
type lockedWriter struct {
	mu sync.Mutex
	w  strings.Builder
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w.Len() > 64<<10 {
		return len(p), nil
	}
	return l.w.Write(p)
}

// Do sends one command and returns the text after "ok".
func (h *Helper) Do(cmd string) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return "", fmt.Errorf("probetest: helper pid %d: %q: closed", h.PID, cmd)
	}
	if _, err := io.WriteString(h.stdin, cmd+"\n"); err != nil {
		return "", fmt.Errorf("probetest: helper pid %d: send %q: %w", h.PID, cmd, err)
	}
	line, err := h.out.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("probetest: helper pid %d: %q: read reply: %w", h.PID, cmd, err)
	}
	line = strings.TrimSpace(line)
	if rest, ok := strings.CutPrefix(line, "ok"); ok {
		return strings.TrimSpace(rest), nil
	}
	return "", fmt.Errorf("probetest: helper pid %d: %q: %s", h.PID, cmd, line)
}

// MustDo is Do failing the test on error.
func (h *Helper) MustDo(t TB, cmd string) string {
	t.Helper()
	out, err := h.Do(cmd)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return out
}

// Close asks the helper to exit, kills it if it has not within 5s, and
// reaps it.
func (h *Helper) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	h.mu.Unlock()
	_, _ = io.WriteString(h.stdin, "exit\n")
	_ = h.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- h.cmd.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("probetest: helper pid %d: %w (stderr: %s)", h.PID, err, h.stderr.String())
		}
		return nil
	case <-ctx.Done():
		_ = h.cmd.Process.Kill()
		<-done
		return fmt.Errorf("probetest: helper pid %d did not exit within 5s: killed", h.PID)
	}
}
