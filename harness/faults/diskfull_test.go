package faults_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/gitchaos/gitchaos/harness/faults"
)

// TestDiskFull: on a 1 MiB tmpfs, diskfull:free=0 leaves no byte to
// write (ENOSPC), free=64KiB about that much, and the undo gives the space
// back and removes its file; a filesystem that is not a tmpfs is refused.
// Skipped with the reason where mounting is not permitted.
func TestDiskFull(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("a size-limited tmpfs is Linux's")
	}
	dir := t.TempDir()
	unmount, err := faults.MountTmpfs(dir, 1<<20)
	if err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() {
		if err := unmount(); err != nil {
			t.Error(err)
		}
	})
	before, err := faults.DiskAvail(dir)
	if err != nil || before < 1<<20-4096 {
		t.Fatalf("avail on a fresh 1 MiB tmpfs: %d, %v", before, err)
	}
	sp, err := faults.ParseSpec("diskfull")
	if err != nil {
		t.Fatal(err)
	}
	undo, err := sp.(faults.DiskFault).Fill(dir)
	if err != nil {
		t.Fatal(err)
	}
	if avail, _ := faults.DiskAvail(dir); avail != 0 {
		t.Errorf("diskfull: %d bytes left, want 0", avail)
	}
	err = os.WriteFile(filepath.Join(dir, "x"), make([]byte, 8192), 0o644)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("write on the full tmpfs: %v, want ENOSPC", err)
	}
	os.Remove(filepath.Join(dir, "x"))
	if err := undo(); err != nil {
		t.Fatal(err)
	}
	if err := undo(); err != nil {
		t.Errorf("second undo: %v", err)
	}
	if avail, _ := faults.DiskAvail(dir); avail != before {
		t.Errorf("after the undo: %d bytes available, want %d", avail, before)
	}
	if _, err := os.Stat(filepath.Join(dir, faults.FillFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("fill file after the undo: %v", err)
	}
	undo, err = faults.DiskFull{Free: 64 << 10}.Fill(dir)
	if err != nil {
		t.Fatal(err)
	}
	if avail, _ := faults.DiskAvail(dir); avail < 60<<10 || avail > 68<<10 {
		t.Errorf("free=64KiB: %d bytes left", avail)
	}
	if err := undo(); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	var st syscall.Statfs_t
	if err := syscall.Statfs(other, &st); err == nil && st.Type != 0x01021994 {
		if undo, err := (faults.DiskFull{}).Fill(other); err == nil {
			_ = undo()
			t.Error("diskfull on a filesystem that is not a tmpfs: no error, want refused")
		} else if !strings.Contains(err.Error(), "not a tmpfs") {
			t.Errorf("diskfull on a filesystem that is not a tmpfs: %v, want refused", err)
		}
	}
}
