package faults

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gitchaos/gitchaos/harness/owner"
)

// A tmpfs left mounted by a dead run (its source names the dead owner) is
// taken off by SweepTmpfs; one of a live run (this test) stays.
func TestSweepTmpfs(t *testing.T) {
	root := t.TempDir()
	deadDir, liveDir := filepath.Join(root, "dead base"), filepath.Join(root, "live")
	for _, d := range []string{deadDir, liveDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dead := owner.ID{PID: gone.Process.Pid, Start: 1} // exited; a reused pid has another start
	if dead.Alive() {
		t.Fatalf("owner %s still alive", dead)
	}
	unmountDead, err := mountTmpfsAs(deadDir, 1<<20, TmpfsSource(dead))
	if err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { _ = unmountDead() })
	unmountLive, err := MountTmpfs(liveDir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unmountLive() })

	res, err := SweepTmpfs()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(res.Unmounted, deadDir) {
		t.Errorf("dead run's tmpfs on %q not unmounted: %+v", deadDir, res)
	}
	if slices.Contains(res.Unmounted, liveDir) || !slices.Contains(res.Live, liveDir) {
		t.Errorf("live run's tmpfs on %q not left alone: %+v", liveDir, res)
	}
	if _, _, err := diskSpace(deadDir); err == nil {
		t.Errorf("%s is still a tmpfs", deadDir)
	}
	if _, _, err := diskSpace(liveDir); err != nil {
		t.Errorf("%s: %v", liveDir, err)
	}
}

// mountinfo lines: only tmpfs mounts with MountTmpfs's source count, and
// an escaped mount point is read back.
func TestDiskfullMount(t *testing.T) {
	for _, tc := range []struct {
		line, point, source string
		ok                  bool
	}{
		{`36 35 0:50 / /tmp/a\040b rw,nosuid - tmpfs gitchaos-diskfull-12.34 rw,size=1024k`, "/tmp/a b", "gitchaos-diskfull-12.34", true},
		{`36 35 0:50 / /tmp/c rw shared:5 - tmpfs gitchaos-diskfull rw`, "/tmp/c", "gitchaos-diskfull", true},
		{`36 35 0:50 / /tmp/d rw - tmpfs tmpfs rw`, "", "", false},
		{`36 35 8:1 / /tmp/e rw - ext4 gitchaos-diskfull-1.2 rw`, "", "", false},
		{`garbage`, "", "", false},
	} {
		point, source, ok := diskfullMount(tc.line)
		if point != tc.point || source != tc.source || ok != tc.ok {
			t.Errorf("%q: %q %q %v, want %q %q %v", tc.line, point, source, ok, tc.point, tc.source, tc.ok)
		}
	}
}
