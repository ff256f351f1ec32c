package probetest

import (
	"bufio"
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
