package forensics

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/harness/eventually/eventuallytest"
)

// holder is a real process holding one of each kind of object: argv dir,
// host, port. It answers "leak N" by opening N more files.
const holder = `
import os, sys, socket, threading, mmap, subprocess, select
d, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
held = []
held.append(open(os.path.join(d, 'held.txt'), 'w'))
p = os.path.join(d, 'gone.pack')
g = open(p, 'w'); g.write('x'); g.flush(); os.unlink(p); held.append(g)
mp = os.path.join(d, 'mapped.idx')
with open(mp, 'wb') as w: w.write(b'\0' * 8192)
mf = open(mp, 'r+b'); held += [mf, mmap.mmap(mf.fileno(), 8192)]
open(os.path.join(d, 'tmp_pack_Ab12cD'), 'w').close()
s = socket.create_connection((host, port)); held.append(s)
threading.Thread(target=lambda: s.recv(1), daemon=True).start()
threading.Thread(target=lambda: select.select([s], [], []), daemon=True).start()
ls = socket.create_server(('127.0.0.1', 0)); ls.settimeout(3600); held.append(ls)
threading.Thread(target=ls.accept, daemon=True).start()  # poll on a listener: idle
held.append(subprocess.Popen(['true']))  # never waited for: a zombie
print('ready', s.fileno(), flush=True)
for line in sys.stdin:
    cmd = line.split()
    if cmd and cmd[0] == 'leak':
        for i in range(int(cmd[1])):
            held.append(open(os.path.join(d, 'leak-%d.pack' % len(held)), 'w'))
    print('ok', flush=True)
`

// proc is a python3 helper process under test.
type proc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// startPython runs script with args, waits for its "ready" line and returns
// the line's words after "ready".
func startPython(tb testing.TB, script string, args ...string) (*proc, []string) {
	tb.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		tb.Skip("python3 not installed: ", err)
	}
	cmd := exec.Command(py, append([]string{"-c", script}, args...)...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &proc{cmd: cmd, in: in, out: bufio.NewReader(out)}
	tb.Cleanup(func() {
		_ = in.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := p.out.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready") {
		tb.Fatalf("helper: %q, %v", line, err)
	}
	return p, strings.Fields(line)[1:]
}

func (p *proc) say(tb testing.TB, line string) {
	tb.Helper()
	if _, err := fmt.Fprintln(p.in, line); err != nil {
		tb.Fatal(err)
	}
	if l, err := p.out.ReadString('\n'); err != nil || l != "ok\n" {
		tb.Fatalf("helper answered %q, %v", l, err)
	}
}

// listen starts a TCP listener that accepts and holds connections, never
// writing; it returns its address.
func listen(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

func TestSnapshotOfARealProcess(t *testing.T) {
	dir := t.TempDir()
	addr := listen(t)
	host, port, _ := net.SplitHostPort(addr)
	p, ready := startPython(t, holder, dir, host, port)
	sockFD, _ := strconv.Atoi(ready[0])
	pid := p.cmd.Process.Pid
	opts := Options{Dirs: []string{dir, filepath.Join(dir, "no-such-dir")}, Peers: map[string]string{addr: "git host h1"}}

	// The recv thread and the zombie get there in their own time.
	var s *Snap
	eventuallytest.Require(t, 10*time.Second, "threads blocked in recv, in select, in an accept, and a zombie child", func() (bool, any) {
		var err error
		s, err = Snapshot(context.Background(), pid, opts)
		if err != nil {
			t.Fatal(err)
		}
		onSock, polling := 0, false
		for _, th := range s.Procs[0].Threads {
			if th.FD == sockFD {
				onSock++
			}
			polling = polling || th.SyscallName == "poll"
		}
		blocked, zombie := onSock == 2 && polling, false
		for _, c := range s.Procs[1:] {
			zombie = zombie || c.Zombie()
		}
		return blocked && zombie, s.Procs
	})
	root := s.Procs[0]
	if root.PID != pid || s.Schema != SchemaVersion || root.Comm == "" || len(root.Cmdline) == 0 || root.Cwd == "" || root.AgeSeconds < 0 || root.AgeSeconds > 60 {
		t.Errorf("root = pid %d comm %q cmdline %q cwd %q age %v", root.PID, root.Comm, root.Cmdline, root.Cwd, root.AgeSeconds)
	}
	fd := func(pred func(FD) bool) *FD {
		for i := range root.FDs {
			if pred(root.FDs[i]) {
				return &root.FDs[i]
			}
		}
		return nil
	}
	if f := fd(func(f FD) bool { return f.Path == filepath.Join(dir, "held.txt") }); f == nil || f.Kind != KindFile || f.Deleted {
		t.Errorf("held.txt: %+v", f)
	}
	if f := fd(func(f FD) bool { return f.Path == filepath.Join(dir, "gone.pack") }); f == nil || f.Kind != KindFile || !f.Deleted {
		t.Errorf("gone.pack (deleted, open): %+v", f)
	}
	sock := fd(func(f FD) bool { return f.FD == sockFD })
	if sock == nil || sock.Kind != KindSocket || sock.Socket == nil || sock.Socket.Proto != ProtoTCP ||
		sock.Socket.Remote != addr || sock.Socket.State != "ESTABLISHED" || sock.Socket.Role != "git host h1" {
		t.Errorf("socket fd %d: %+v %+v", sockFD, sock, sock.Socket)
	}
	mapped := false
	for _, m := range root.Maps {
		mapped = mapped || (m.Path == filepath.Join(dir, "mapped.idx") && m.Size == 8192 && !m.Deleted)
	}
	if !mapped {
		t.Errorf("mapped.idx not in maps: %+v", root.Maps)
	}
	if root.Memory == nil || root.Memory.Rss == 0 || root.Memory.Anon == 0 || root.Memory.File != root.Memory.Rss-root.Memory.Anon {
		t.Errorf("memory: %+v", root.Memory)
	}
	var recv, sel, accept *Thread
	for i, th := range root.Threads {
		switch {
		case th.FD == sockFD && strings.HasPrefix(th.SyscallName, "recv"):
			recv = &root.Threads[i]
		case th.FD == sockFD && strings.Contains(th.SyscallName, "select"):
			sel = &root.Threads[i]
		case th.SyscallName == "poll":
			accept = &root.Threads[i]
		}
	}
	for _, th := range []*Thread{recv, sel} {
		if th == nil || th.Class != ClassBlocked || !strings.Contains(th.Waits, "-> "+addr+" ESTABLISHED (git host h1)") {
			t.Errorf("a thread waiting on the socket (recv, select): %+v", th)
		}
	}
	if accept == nil || accept.Class != ClassIdle || accept.FD != -1 {
		t.Errorf("a thread in poll on a listener (idle): %+v", accept)
	}
	if main := root.Threads[0]; main.TID != pid || main.Class != ClassBlocked || main.SyscallName != "read" {
		t.Errorf("main thread (reading stdin): %+v", main)
	}
	var zombie *Proc
	for i := range s.Procs[1:] {
		if c := &s.Procs[1+i]; c.Zombie() {
			zombie = c
		}
	}
	if zombie == nil || zombie.PPID != pid || zombie.Comm != "true" {
		t.Errorf("zombie child: %+v", zombie)
	}
	debris := false
	for _, f := range s.Files {
		debris = debris || (filepath.Base(f.Path) == "tmp_pack_Ab12cD" && f.Debris == "git temp pack")
	}
	if !debris {
		t.Errorf("tmp_pack_ debris not found: %+v", s.Files)
	}
	var missing bool
	for _, u := range s.Unreadable {
		missing = missing || (u.Part == "dir "+filepath.Join(dir, "no-such-dir") && strings.Contains(u.Reason, "no such file"))
	}
	if !missing {
		t.Errorf("a missing watched dir is not reported unreadable: %+v", s.Unreadable)
	}

	// Objects carry what attribution needs: paths and peers.
	var gonePath, sockRemote, threadRemote bool
	for _, o := range Objects(s) {
		gonePath = gonePath || (o.Kind == "fd" && o.Path == filepath.Join(dir, "gone.pack") && o.Signature == "file <base>/gone.pack (deleted)" && o.PID == pid)
		sockRemote = sockRemote || (o.Kind == "fd" && o.Remote == addr && o.Signature == "socket tcp 127.0.0.1:<port> -> "+addr+" ESTABLISHED (git host h1)")
		threadRemote = threadRemote || (o.Kind == "thread" && o.Remote == addr && strings.HasSuffix(o.Signature, " on socket tcp 127.0.0.1:<port> -> "+addr+" ESTABLISHED (git host h1)"))
	}
	if !gonePath || !sockRemote || !threadRemote {
		t.Errorf("Objects: deleted file %v, socket %v, thread on the socket %v: %+v", gonePath, sockRemote, threadRemote, Objects(s))
	}

	// JSON round trip: a saved snapshot diffs like the live one.
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var base Snap
	if err := json.Unmarshal(b, &base); err != nil {
		t.Fatal(err)
	}

	// Leak 6 files over 3 cycles: the top groups are exactly those.
	for range 3 {
		p.say(t, "leak 2")
	}
	after, err := Snapshot(context.Background(), pid, opts)
	if err != nil {
		t.Fatal(err)
	}
	d := Compare(&base, after, 3)
	top := d.Top(5)
	if len(top) != 2 {
		t.Fatalf("top groups: %d, want 2 (the fds and the files):\n%s", len(top), d.Text(0))
	}
	want := []Group{
		{Kind: "fd", Signature: "file <base>/leak-<n>.pack", Before: 0, After: 6, Growth: 6, PerCycle: 2},
		{Kind: "file", Signature: "<base>/leak-<n>.pack", Before: 0, After: 6, Growth: 6, PerCycle: 2},
	}
	for i, g := range top {
		ex := g.Example
		g.Example = ""
		if g != want[i] || !strings.Contains(ex, dir+"/leak-") {
			t.Errorf("top[%d] = %+v (e.g. %s), want %+v", i, g, ex, want[i])
		}
	}
	text := top[0].Text()
	if !strings.HasPrefix(text, "+6 fd file <base>/leak-<n>.pack   e.g. fd ") {
		t.Errorf("Text = %q", text)
	}
	t.Logf("snapshot took %v; diff:\n%s", after.Took, d.Text(10))
}

func TestUnreadableAndVanished(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid // exited and reaped
	if _, err := Snapshot(context.Background(), dead, Options{}); !errors.Is(err, ErrNoProcess) {
		t.Fatalf("Snapshot of a gone pid: %v, want ErrNoProcess", err)
	}
	// A descendant that exits between the listing and its reading.
	tk := &taker{s: &Snap{}, net: map[string]*nsTables{}, now: time.Now()}
	tk.proc(dead)
	if len(tk.s.Procs) != 0 || len(tk.s.Vanished) != 1 || tk.s.Vanished[0] != dead {
		t.Fatalf("vanished pid: procs %+v, vanished %v", tk.s.Procs, tk.s.Vanished)
	}
	// A part that cannot be read is reported with its reason.
	tk.unreadable(7, "fds", &os.PathError{Op: "open", Path: "/proc/7/fd", Err: os.ErrPermission})
	if u := tk.s.Unreadable[0]; u.String() != "pid 7 fds: permission denied" {
		t.Fatalf("unreadable = %q", u.String())
	}
}

func TestNormalPeers(t *testing.T) {
	got := normalPeers(map[string]string{"[::ffff:127.0.0.1]:80": "a", "[0:0::1]:81": "b", "git.example:9": "c"})
	want := map[string]string{"127.0.0.1:80": "a", "[::1]:81": "b", "git.example:9": "c"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("normalPeers = %v, want %v", got, want)
	}
}

func TestParseAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F:1F90":                         "127.0.0.1:8080",
		"00000000:0000":                         "0.0.0.0:0",
		"00000000000000000000000001000000:0050": "[::1]:80",
		"0000000000000000FFFF00000100007F:0050": "127.0.0.1:80",
		"zz:1":                                  "",
	} {
		if got := parseAddr(in); got != want {
			t.Errorf("parseAddr(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestSignature(t *testing.T) {
	for in, want := range map[string]string{
		"/srv/git_sources/0123456789abcdef0123456789abcdef01234567-3/objects/pack/pack-89abcdef0123456789abcdef0123456789abcdef.pack": "/srv/git_sources/<id>/objects/pack/pack-<hex>.pack",
		"/proc/1234/fd/7":                                "/proc/<n>/fd/<n>",
		"/tmp/x/tmp_pack_Ab12cD":                         "/tmp/x/tmp_pack_<tmp>",
		"/tmp/tmpk2j3h4l9/f.lock":                        "/tmp/tmp<tmp>/f.lock",
		"/data/scope-alpha/repo":                         "/data/scope-<id>/repo",
		"/data/123e4567-e89b-12d3-a456-426614174000":     "/data/<id>",
		"git cat-file --batch-check":                     "git cat-file --batch-check",
		"ThreadPoolExecutor-0_3":                         "ThreadPoolExecutor-<n>_<n>",
		"/data/tenant-acme/clone":                        "/data/tenant-<id>/clone",
		"/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0.11.2": "/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0.11.2",
		"/usr/lib/python3.11/lib-dynload/_blake2.cpython-311-x86_64-linux-gnu.so": "/usr/lib/python3.<n>/lib-dynload/_blake2.cpython-311-x86_64-linux-gnu.so",
		"/srv/clone_staging/fetch.Xy12ab34":                                       "/srv/clone_staging/fetch.<tmp>",
		"/srv/x/objects/pack/tmp_pack_abcdef":                                     "/srv/x/objects/pack/tmp_pack_<tmp>",
		"/tmp/pyopal-stage-4079ede16d1e-xpv_m4l9/repo":                            "/tmp/pyopal-stage-<hex>-<tmp>/repo",
		"/srv/x/sha256.txt":                                                       "/srv/x/sha256.txt",
	} {
		ids := []string{"acme"}
		if got := Signature(in, ids...); got != want {
			t.Errorf("Signature(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Shorten("/tmp/x/git_sources/0123456789abcdef/objects/pack/pack-0123.pack", 40); got != "/tmp/x/git_sour…ects/pack/pack-0123.pack" {
		t.Errorf("Shorten = %q", got)
	}
	for name, want := range map[string]string{
		"tmp_pack_XyZ123": "git temp pack", "index.lock": "lock file", "a.partial": "partial download",
		"tmpk2j3h4l9": "temp file", "x.tmp": "temp file", "pack-1.pack": "", "tmpfiles": "",
	} {
		if got := Debris(name); got != want {
			t.Errorf("Debris(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestSocketSignatureEphemeralPorts(t *testing.T) {
	s := &Snap{
		Peers: map[string]string{"127.0.0.1:9000": "git host h1"},
		Procs: []Proc{{FDs: []FD{
			{Kind: KindSocket, Socket: &Socket{Proto: ProtoTCP, Local: "127.0.0.1:8080", State: "LISTEN"}},
			{Kind: KindSocket, Socket: &Socket{Proto: ProtoTCP6, Local: "[::]:7000", State: "LISTEN"}},
		}}},
	}
	g := newSigner(s, nil)
	for _, c := range []struct {
		s    Socket
		want string
	}{
		{Socket{Proto: ProtoTCP, Local: "127.0.0.1:40112", Remote: "127.0.0.1:9000", State: "ESTABLISHED", Role: "git host h1"},
			"socket tcp 127.0.0.1:<port> -> 127.0.0.1:9000 ESTABLISHED (git host h1)"},
		{Socket{Proto: ProtoTCP, Local: "127.0.0.1:8080", Remote: "127.0.0.1:51234", State: "ESTABLISHED", Role: "other"},
			"socket tcp 127.0.0.1:8080 -> 127.0.0.1:<port> ESTABLISHED"},
		{Socket{Proto: ProtoUnix, Local: "/run/x.sock", State: "CONNECTED"}, "socket unix /run/x.sock CONNECTED"},
		{Socket{Proto: ProtoTCP6, Local: "[::1]:7000", Remote: "[::1]:51234", State: "CLOSE_WAIT"},
			"socket tcp6 [::1]:7000 -> [::1]:<port> CLOSE_WAIT"},
	} {
		if got := g.socket(&c.s); got != c.want {
			t.Errorf("socket %+v = %q, want %q", c.s, got, c.want)
		}
	}
}

// many is a process with about 2,000 fds (files, socket pairs, TCP
// connections) and 200 threads: 150 idle on a condition, 50 blocked in recv.
const many = `
import os, sys, socket, threading, resource
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
host, port = sys.argv[1], int(sys.argv[2])
held = [open('/proc/self/stat') for _ in range(1700)]
pairs = [socket.socketpair() for _ in range(100)]
conns = [socket.create_connection((host, port)) for _ in range(100)]
ev = threading.Event()
for i in range(150):
    threading.Thread(target=ev.wait, daemon=True).start()
for i in range(50):
    threading.Thread(target=pairs[i][0].recv, args=(1,), daemon=True).start()
print('ready', flush=True)
sys.stdin.read()
`

// BenchmarkSnapshot: one snapshot of a process with ~2,000 fds and 200
// threads (target: <= 50 ms).
func BenchmarkSnapshot(b *testing.B) {
	addr := listen(b)
	host, port, _ := net.SplitHostPort(addr)
	p, _ := startPython(b, many, host, port)
	pid := p.cmd.Process.Pid
	opts := Options{Peers: map[string]string{addr: "git host h1"}}
	var s *Snap
	b.ResetTimer()
	for b.Loop() {
		var err error
		if s, err = Snapshot(context.Background(), pid, opts); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	threads, blocked := len(s.Procs[0].Threads), 0
	for _, th := range s.Procs[0].Threads {
		if th.Class == ClassBlocked {
			blocked++
		}
	}
	b.ReportMetric(float64(len(s.Procs[0].FDs)), "fds")
	b.ReportMetric(float64(threads), "threads")
	b.ReportMetric(float64(blocked), "blocked")
}
