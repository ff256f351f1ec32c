package target

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/harness/eventually"
	"github.com/gitchaos/gitchaos/harness/guard"
	"github.com/gitchaos/gitchaos/harness/owner"
	"github.com/gitchaos/gitchaos/harness/proctree"
)

// detachingScript starts children that leave the target's process group
// and session — one keeps writing into the base dir, one is a double-forked
// orphan — and then becomes the fetcher.
const detachingScript = `base=$1; exe=$2; shift 2
setsid sh -c 'while :; do mkdir -p "$0/writer"; echo x >> "$0/writer/f"; sleep 0.05; done' "$base" &
setsid sh -c 'sleep 1000 & exit 0' &
sleep 1000 &
exec "$exe" "$@"
`

// liveTree is the target's processes (by marker) that are not zombies.
func liveTree(t *testing.T, marker string) []proctree.Proc {
	t.Helper()
	ps, err := proctree.Tree(0, marker)
	if err != nil {
		t.Fatal(err)
	}
	var live []proctree.Proc
	for _, p := range ps {
		if !p.Zombie() {
			live = append(live, p)
		}
	}
	return live
}

// TestExecCloseStopsDetachedTree: a target whose children start their own
// sessions (and one that re-parents to init) leaves nothing after Close:
// no process, no base dir, no logs dir — also for Restart's stop.
func TestExecCloseStopsDetachedTree(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	script := filepath.Join(tmp, "detach.sh")
	if err := os.WriteFile(script, []byte(detachingScript), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &Exec{
		Template: "sh '" + script + "' {base_dir} '" + exe + "' --listen {addr} --base-dir {base_dir}",
		Env:      []string{"GITCHAOS_TARGET_TEST_FETCHER=1"}, TempDir: tmp,
	}
	ctx := context.Background()
	tg, err := f.New(ctx, testSettings)
	if err != nil {
		t.Fatal(err)
	}
	et := tg.(*execTarget)
	if guard.Available() && et.guard == nil {
		t.Error("guards are available in this binary but the target has none")
	}
	waitOtherSessions := func(what string) []proctree.Proc {
		t.Helper()
		var last []proctree.Proc
		if !pollUntil(func() bool {
			last = liveTree(t, et.marker)
			pid := et.PID()
			main, err := proctree.Read(pid)
			if err != nil {
				return false
			}
			other := 0
			for _, p := range last {
				if p.SID != main.SID {
					other++
				}
			}
			return other >= 3 // writer loop, its sleeps, the orphan sleep
		}) {
			t.Fatalf("%s: the target's detached children never showed: tree %v", what, last)
		}
		return last
	}
	before := waitOtherSessions("start")
	if err := tg.Restart(ctx, false); err != nil {
		t.Fatal(err)
	}
	for _, p := range before {
		if q, err := proctree.Read(p.PID); err == nil && !q.Zombie() && proctree.HasEnv(p.PID, et.marker) {
			t.Errorf("restart left %v of the first run", q)
		}
	}
	waitOtherSessions("restart")
	base, logs := tg.BaseDir(), et.art
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
	if left := liveTree(t, et.marker); len(left) > 0 {
		t.Errorf("Close left processes of the target: %v", left)
	}
	for _, d := range []string{base, logs} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s still there after Close (%v)", d, err)
		}
	}
	if et.guard != nil {
		if _, err := proctree.Read(et.guard.PID()); err == nil {
			t.Errorf("guard pid %d still running after Close", et.guard.PID())
		}
	}
}

// pollUntil reports whether cond held within 10 s.
func pollUntil(cond func() bool) bool {
	return eventually.Within(10*time.Second, cond)
}

// TestSweepExecDirs: dirs of a dead owner go (after the process still
// carrying their marker is stopped); a live owner's dirs and dirs naming
// no owner stay.
func TestSweepExecDirs(t *testing.T) {
	tmp := t.TempDir()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadName := ExecDirPrefix + owner.ID{PID: dead.Process.Pid, Start: 1}.String() + "-1"
	liveName := ExecDirPrefix + owner.Self().String() + "-2"
	for _, n := range []string{deadName, deadName + "-logs", liveName, liveName + "-logs", ExecDirPrefix + "12345"} {
		if err := os.MkdirAll(filepath.Join(tmp, n, "git_sources"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A leftover of the dead run still running with its marker.
	orphan := exec.Command("sleep", "1000")
	orphan.Env = append(os.Environ(), proctree.Marker(deadName))
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	reaped := make(chan struct{})
	go func() { _ = orphan.Wait(); close(reaped) }()
	defer func() { _ = orphan.Process.Kill(); <-reaped }()

	res, err := SweepExecDirs(tmp)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(res.Removed)
	want := []string{filepath.Join(tmp, deadName), filepath.Join(tmp, deadName+"-logs")}
	if !reflect.DeepEqual(res.Removed, want) || len(res.Live) != 2 || len(res.Unknown) != 1 {
		t.Errorf("SweepExecDirs = %+v, want removed %v, 2 live, 1 unknown", res, want)
	}
	select {
	case <-reaped:
	case <-time.After(5 * time.Second):
		t.Errorf("the dead run's process %d still runs after the sweep", orphan.Process.Pid)
	}
	for _, n := range []string{liveName, liveName + "-logs", ExecDirPrefix + "12345"} {
		if _, err := os.Stat(filepath.Join(tmp, n)); err != nil {
			t.Errorf("sweep removed %s: %v", n, err)
		}
	}
}
