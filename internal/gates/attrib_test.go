package gates

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/harness/forensics"
	"github.com/gitchaos/gitchaos/harness/testbed"
)

const (
	commitA = "1111111111111111111111111111111111111111"
	commitB = "2222222222222222222222222222222222222222"
)

// gitDir makes a git dir (HEAD, objects/pack) at dir with ref main at
// commit, in packed-refs or as a loose ref.
func gitDir(t *testing.T, dir, commit string, packed bool) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Join(dir, "objects", "pack"), 0o755))
	must(t, os.MkdirAll(filepath.Join(dir, "refs", "heads"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "HEAD"), []byte("ref: refs/heads/main\n"), 0o644))
	if packed {
		must(t, os.WriteFile(filepath.Join(dir, "packed-refs"), []byte("# pack-refs with: peeled\n"+commit+" refs/heads/main\n"), 0o644))
	} else {
		must(t, os.WriteFile(filepath.Join(dir, "refs", "heads", "main"), []byte(commit+"\n"), 0o644))
	}
	must(t, os.WriteFile(filepath.Join(dir, "objects", "pack", "pack-"+commit+".pack"), []byte("PACK"), 0o644))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestLearnClones: clones are found by content, whatever the layout: a
// bare clone named by a hash, a working tree's .git under a name of the
// server's choosing; a git dir with no commit of a known repo is not a
// clone of one.
func TestLearnClones(t *testing.T) {
	base := t.TempDir()
	h0 := &testbed.Host{Name: "h0", URL: "http://127.0.0.1:1001"}
	h1 := &testbed.Host{Name: "h1", URL: "http://127.0.0.1:1002"}
	bare := filepath.Join(base, "git_sources", "0a1b2c3d-0")
	gitDir(t, bare, commitA, true)
	tree := filepath.Join(base, "repos", "some-name")
	gitDir(t, filepath.Join(tree, ".git"), commitB, false)
	gitDir(t, filepath.Join(base, "git_sources", "stranger"), strings.Repeat("3", 40), false)

	ss := &scopeSet{}
	n := ss.learnIn([]string{base}, []Repo{{Host: h0, Name: "r0", Head: commitA}, {Host: h1, Name: "r1", Head: commitB}})
	if n != 2 {
		t.Fatalf("learned %d clones, want 2: %+v", n, ss.clones)
	}
	if c := ss.clones[bare]; c.url != h0.RepoURL("r0") {
		t.Errorf("bare clone %s: url %q, want %q", bare, c.url, h0.RepoURL("r0"))
	}
	if c := ss.clones[tree]; c.url != h1.RepoURL("r1") {
		t.Errorf("working tree %s: url %q, want %q", tree, c.url, h1.RepoURL("r1"))
	}
}

// TestHeldInProcess attributes a real snapshot of this process, which is
// what an in-process target's snapshot is: a file open under a deleted
// scope's clone is held, one under a live scope's clone is not; a socket
// to the deleted scope's git host (its proxy) is held only when it is not
// an idle pooled one (the host busy, or half-closed); the harness's own
// sockets (to the git server directly, to the target's API, the accepted
// end of a connection to a listener in this process) are never blamed.
func TestHeldInProcess(t *testing.T) {
	base := t.TempDir()
	proxyDead, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer proxyDead.Close()
	direct, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer direct.Close()
	hDead := &testbed.Host{Name: "h0", URL: "http://" + proxyDead.Addr().String(), AdminURL: "http://" + direct.Addr().String()}
	hLive := &testbed.Host{Name: "h1", URL: "http://127.0.0.1:1"}

	deadClone := filepath.Join(base, "git_sources", "dead")
	liveClone := filepath.Join(base, "git_sources", "live")
	gitDir(t, deadClone, commitA, true)
	gitDir(t, liveClone, commitB, true)
	rDead, rLive := Repo{Host: hDead, Name: "r0", Head: commitA}, Repo{Host: hLive, Name: "r1", Head: commitB}

	ss := &scopeSet{}
	ss.live, ss.byID, ss.byURL = map[string]string{}, map[string]string{}, map[string]string{}
	for id, r := range map[string]Repo{"s-dead": rDead, "s-live": rLive} {
		ss.live[id], ss.byID[id], ss.byURL[r.URL()] = r.URL(), r.URL(), id
	}
	if n := ss.learnIn([]string{base}, []Repo{rDead, rLive}); n != 2 {
		t.Fatalf("learned %d clones, want 2", n)
	}
	ss.deleted("s-dead")

	fDead, err := os.Open(filepath.Join(deadClone, "objects", "pack", "pack-"+commitA+".pack"))
	must(t, err)
	defer fDead.Close()
	fLive, err := os.Open(filepath.Join(liveClone, "objects", "pack", "pack-"+commitB+".pack"))
	must(t, err)
	defer fLive.Close()
	// The target's connection to the dead host's proxy, and the harness's
	// own to the git server directly.
	toProxy, err := net.Dial("tcp", proxyDead.Addr().String())
	must(t, err)
	defer toProxy.Close()
	accepted, err := proxyDead.Accept()
	must(t, err)
	defer accepted.Close()
	toDirect, err := net.Dial("tcp", direct.Addr().String())
	must(t, err)
	defer toDirect.Close()

	snap, err := forensics.Snapshot(context.Background(), os.Getpid(), forensics.Options{Dirs: []string{base}})
	must(t, err)
	keepMarked(snap, "")
	if len(snap.Procs) != 1 {
		t.Fatalf("in-process snapshot keeps %d processes, want the root alone", len(snap.Procs))
	}

	paths := func(held []heldObject) (files []string, socks []string) {
		for _, h := range held {
			if h.scope != "s-dead" {
				t.Errorf("held %s attributed to %q, want s-dead", h.obj.Example, h.scope)
			}
			if h.obj.Remote != "" {
				socks = append(socks, h.obj.Remote)
			} else if h.obj.Kind == "fd" {
				files = append(files, h.obj.Path)
			}
		}
		return files, socks
	}
	files, socks := paths(ss.held(snap, nil))
	if len(files) != 1 || !strings.HasSuffix(files[0], "pack-"+commitA+".pack") {
		t.Errorf("held fds %v, want the dead clone's pack alone", files)
	}
	if len(socks) != 0 {
		t.Errorf("idle pooled socket counted as held: %v", socks)
	}
	_, socks = paths(ss.held(snap, map[string]bool{proxyDead.Addr().String(): true}))
	if len(socks) != 1 || socks[0] != proxyDead.Addr().String() {
		t.Errorf("with a request in flight on the dead host: held sockets %v, want the one to %s", socks, proxyDead.Addr())
	}

	// Once the live scope is deleted too, its clone's file is held.
	ss.deleted("s-live")
	files, _ = paths(filterScope(ss.held(snap, nil), "s-dead"))
	if len(files) != 1 {
		t.Errorf("held fds of s-dead after both deletes: %v", files)
	}
	if got := len(ss.held(snap, nil)); got < 2 {
		t.Errorf("after both deletes %d objects held, want both packs at least", got)
	}
}

func filterScope(held []heldObject, scope string) []heldObject {
	var out []heldObject
	for _, h := range held {
		if h.scope == scope {
			out = append(out, h)
		}
	}
	return out
}

// TestHeldSocket: idle pooled keep-alives never count.
func TestHeldSocket(t *testing.T) {
	for _, tc := range []struct {
		state         string
		busy, blocked bool
		want          bool
	}{
		{"ESTABLISHED", false, false, false},
		{"ESTABLISHED", true, false, true},
		{"ESTABLISHED", false, true, true},
		{"CLOSE_WAIT", false, false, true},
		{"SYN_SENT", false, false, true},
	} {
		if got := heldSocket(tc.state, tc.busy, tc.blocked); got != tc.want {
			t.Errorf("heldSocket(%s, busy %v, blocked %v) = %v, want %v", tc.state, tc.busy, tc.blocked, got, tc.want)
		}
	}
}

// TestGitObjects: a thread blocked on a socket to a git host is named
// with its process and the socket; an idle thread is not counted.
func TestGitObjects(t *testing.T) {
	snap := &forensics.Snap{Root: 10, Procs: []forensics.Proc{
		{PID: 10, Comm: "python3", Threads: []forensics.Thread{{TID: 10, Name: "python3", Class: forensics.ClassIdle, FD: -1}}},
		{PID: 12, PPID: 11, Comm: "git-remote-http", Cmdline: []string{"git-remote-http", "origin", "http://127.0.0.1:9000/r.git"},
			FDs: []forensics.FD{{FD: 5, Kind: forensics.KindSocket, Path: "socket:[1]",
				Socket: &forensics.Socket{Proto: "tcp", Local: "127.0.0.1:40000", Remote: "127.0.0.1:9000", State: "ESTABLISHED", Role: "git host h1"}}},
			Threads: []forensics.Thread{{TID: 12, Name: "git-remote-http", Class: forensics.ClassBlocked, SyscallName: "pselect6", FD: 5,
				Waits: "pselect6 on fd 5: tcp 127.0.0.1:40000 -> 127.0.0.1:9000 ESTABLISHED (git host h1)"}}},
	}}
	blocked, conns := gitObjects(snap, map[string]string{"127.0.0.1:9000": "git host h1"}, nil)
	if len(blocked) != 1 || len(conns) != 1 {
		t.Fatalf("blocked %v, conns %v: want one each", blocked, conns)
	}
	text := objectsText(gitGroups(blocked), 5)
	for _, want := range []string{"git-remote-http pselect6 on socket to git host h1", "pid 12 (git-remote-http, parent 11)", "127.0.0.1:9000 ESTABLISHED"} {
		if !strings.Contains(text, want) {
			t.Errorf("explanation %q lacks %q", text, want)
		}
	}
}

// TestKept: a group of file fds that grows every round is a staircase, a
// sawtooth is not; a child started after the first judged point and still
// there at a quiet point is kept, a child there before or just started is
// not.
func TestKept(t *testing.T) {
	k := &keptWatch{examples: map[string]string{}}
	for i, n := range []int{1, 2, 3, 4, 5, 6, 7} {
		k.groups = append(k.groups, map[string]int{"file <base>/pack-<hex>.pack": n, "pipe in git": []int{2, 9, 3, 8, 2, 9, 4}[i]})
	}
	st := k.stairs()
	if len(st) != 1 || !strings.HasPrefix(st[0], "file <base>/pack-<hex>.pack: 2 → 7") {
		t.Errorf("stairs %q, want the pack group alone, 2 → 7", st)
	}

	t0 := time.Now()
	first := &forensics.Snap{Root: 1, Taken: t0}
	worker := forensics.Proc{PID: 2, PPID: 1, Start: t0.Add(-time.Minute), AgeSeconds: 70, Cmdline: []string{"worker"}}
	catfile := forensics.Proc{PID: 3, PPID: 2, Start: t0.Add(time.Second), AgeSeconds: 9, Cmdline: []string{"git", "cat-file", "--batch"},
		Threads: []forensics.Thread{{TID: 3, Name: "git", Class: forensics.ClassBlocked}}, Memory: &forensics.Memory{Rss: 6 << 20}}
	worker.Memory = &forensics.Memory{Rss: 40 << 20}
	young := forensics.Proc{PID: 4, PPID: 2, Start: t0.Add(9 * time.Second), AgeSeconds: 0.2, Cmdline: []string{"git", "fetch"}, Memory: &forensics.Memory{Rss: 3 << 20}}
	now := &forensics.Snap{Root: 1, Procs: []forensics.Proc{{PID: 1}, worker, catfile, young}}
	kept := keptProcs(first, now)
	if len(kept["proc"]) != 1 || !strings.Contains(kept["proc"][0], `pid 3 ppid 2 S "git cat-file --batch"`) && !strings.Contains(kept["proc"][0], `"git cat-file --batch"`) || len(kept["thread"]) != 1 {
		t.Errorf("kept %q, want the cat-file process alone and its thread (not the worker from before, not a process just started)", kept)
	}
	// The RSS that decides the RSS flat check is the kept processes' alone.
	if rss := procsRSS(now, keptPIDs(first, now)); rss != 6<<20 {
		t.Errorf("kept processes' RSS %d, want %d (the cat-file process's only)", rss, 6<<20)
	}
}
