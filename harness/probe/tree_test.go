package probe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/harness/eventually/eventuallytest"
	"github.com/gitchaos/gitchaos/harness/proctree"
)

// TestTree: a shell with a child that left its tree (its own session)
// and one that stayed: the tree sums over the shell and both, counts two
// processes besides the root, and the marker alone finds the detached
// one and the shell.
func TestTree(t *testing.T) {
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("setsid not installed: ", err)
	}
	marker := proctree.Marker(fmt.Sprintf("probe-test-%d-%d", os.Getpid(), time.Now().UnixNano()))
	cmd := exec.Command("sh", "-c", "setsid sleep 300 & sleep 300 & wait")
	cmd.Env = append(os.Environ(), marker)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		if err := proctree.Kill(cmd.Process.Pid, proctree.KillOptions{Marker: marker, Exited: func() bool {
			select {
			case <-done:
				return true
			default:
				return false
			}
		}}); err != nil {
			t.Error(err)
		}
		<-done
	})
	src, err := Tree(cmd.Process.Pid, TreeOptions{Marker: marker})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var smp Sample
	eventuallytest.Require(t, 10*time.Second, "processes = 2 (both sleeps)", func() (bool, any) {
		if smp, err = src.Sample(ctx); err != nil {
			t.Fatal(err)
		}
		n, _ := smp.Get(Processes)
		return n == 2, smp
	})
	for _, m := range []string{FDs, RSS, Threads, CPU} {
		if _, ok := smp.Get(m); !ok {
			t.Errorf("%s unavailable: %s", m, smp.Unavailable[m])
		}
	}
	if th, _ := smp.Get(Threads); th < 3 {
		t.Errorf("threads = %g, want >= 3 (one per process)", th)
	}
	marked, err := Tree(0, TreeOptions{Marker: marker})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := marked.Sample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := ms.Get(Processes); n != 3 {
		t.Errorf("marked processes = %g, want 3 (the shell and both sleeps)", n)
	}
	if _, err := Tree(0, TreeOptions{}); err == nil {
		t.Error("Tree(0) without a marker: no error")
	}
}

// TestTreeGone: a root that exited is ErrProcessGone.
func TestTreeGone(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	src, err := Tree(cmd.Process.Pid, TreeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Sample(context.Background()); !errors.Is(err, ErrProcessGone) {
		t.Fatalf("sample of an exited root: error %v, want ErrProcessGone", err)
	}
}
