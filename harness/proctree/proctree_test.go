package proctree

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/harness/eventually/eventuallytest"
)

func TestParseStat(t *testing.T) {
	p, err := parseStat(42, []byte("42 (a) (b c) S 7 42 40 0 -1 4194560 0"))
	if err != nil {
		t.Fatal(err)
	}
	want := Proc{PID: 42, PPID: 7, PGID: 42, SID: 40, State: 'S', Comm: "a) (b c"}
	if p != want {
		t.Fatalf("parseStat = %+v, want %+v", p, want)
	}
	for _, bad := range []string{"", "42 (x", "42 (x) S", "42 (x) S y 1 2"} {
		if _, err := parseStat(42, []byte(bad)); err == nil {
			t.Errorf("parseStat(%q): no error", bad)
		}
	}
}

func TestTreeOfMarkerAndLinks(t *testing.T) {
	all := []Proc{
		{PID: 1, PPID: 0}, {PID: 10, PPID: 1}, {PID: 11, PPID: 10}, {PID: 12, PPID: 11, State: 'Z'},
		{PID: 20, PPID: 1}, {PID: 21, PPID: 20}, // orphan with the marker, and its child
		{PID: 30, PPID: 1}, // unrelated
	}
	env := func(pid int, m string) bool { return pid == 20 && m == "M=1" }
	got := pids(treeOf(all, 10, "M=1", env))
	if got != "10 11 12 20 21" {
		t.Fatalf("tree = %s, want 10 11 12 20 21", got)
	}
	if got := pids(treeOf(all, 10, "", env)); got != "10 11 12" {
		t.Fatalf("tree without marker = %s", got)
	}
	if got := pids(treeOf(all, 99, "", env)); got != "" {
		t.Fatalf("tree of a gone root = %q", got)
	}
}

func pids(ps []Proc) string {
	var s []string
	for _, p := range ps {
		s = append(s, strconv.Itoa(p.PID))
	}
	return strings.Join(s, " ")
}

// A real tree: a shell whose child starts its own session and outlives it
// (re-parented away from the shell). Tree finds both through the marker;
// Kill leaves nothing.
func TestKillDetachedDescendants(t *testing.T) {
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("setsid not installed: ", err)
	}
	marker := Marker(fmt.Sprintf("test-%d-%d", os.Getpid(), time.Now().UnixNano()))
	cmd := exec.Command("sh", "-c", "setsid sleep 300 & sleep 300")
	cmd.Env = append(os.Environ(), marker)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	exited := func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	t.Cleanup(func() { _ = Kill(cmd.Process.Pid, KillOptions{Marker: marker, Exited: exited}) })

	// Both sleeps appear (one in another session).
	eventuallytest.Require(t, 5*time.Second, "2 sleeps in 2 sessions in the tree", func() (bool, any) {
		ps, err := Tree(cmd.Process.Pid, marker)
		if err != nil {
			t.Fatal(err)
		}
		sessions := map[int]bool{}
		sleeps := 0
		for _, p := range ps {
			if p.Comm == "sleep" {
				sleeps++
				sessions[p.SID] = true
			}
		}
		return sleeps == 2 && len(sessions) == 2, ps
	})
	// Kill the shell alone first: the detached sleep loses its parent link.
	_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
	<-done
	ps, err := Tree(cmd.Process.Pid, marker)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) == 0 {
		t.Fatal("after the root died the marker found nothing; the detached children were lost")
	}
	if err := Kill(cmd.Process.Pid, KillOptions{Marker: marker, Grace: 200 * time.Millisecond, Exited: exited}); err != nil {
		t.Fatal(err)
	}
	ps, err = Tree(cmd.Process.Pid, marker)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if !p.Zombie() {
			t.Fatalf("alive after Kill: %v", ps)
		}
	}
}
