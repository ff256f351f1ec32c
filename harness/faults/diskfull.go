package faults

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/gitchaos/gitchaos/harness/owner"
)

// KindDisk faults act on the filesystem that holds a target's base dir
// (DiskFault): the disk-full gate puts that dir on a size-limited tmpfs of
// its own.
const KindDisk Kind = "disk"

// DiskFault is a fault on the filesystem that holds a directory.
type DiskFault interface {
	Spec
	// Fill applies it to the filesystem holding dir; undo reverses it
	// (idempotent).
	Fill(dir string) (undo func() error, err error)
}

// DiskFull fills the filesystem holding a dir until Free bytes are left
// (0: none), with one file, FillFile, at the dir's top; recovering removes
// the file and the space is back. It refuses every filesystem but a tmpfs
// of at most MaxDiskFullBytes, so that it never fills a machine's disk.
type DiskFull struct {
	Free int64 // bytes left available
}

// FillFile is the name of the file DiskFull writes.
const FillFile = ".gitchaos-diskfull"

// MaxDiskFullBytes is the largest filesystem DiskFull fills.
const MaxDiskFullBytes = 1 << 30

func parseDiskFull(p *params) (Spec, error) {
	free, err := p.size("free", 0)
	if err != nil {
		return nil, err
	}
	f := DiskFull{Free: free}
	return f, f.Validate()
}

// Validate reports what is wrong with the settings.
func (f DiskFull) Validate() error {
	if f.Free < 0 {
		return fmt.Errorf("faults: diskfull: free=%d: must be >= 0", f.Free)
	}
	return nil
}

// Name implements Spec.
func (DiskFull) Name() string { return "diskfull" }

// String implements Spec.
func (f DiskFull) String() string { return fmt.Sprintf("diskfull:free=%d", f.Free) }

// Fill implements DiskFault: it writes dir/FillFile until no more than
// f.Free bytes are available on dir's filesystem, and keeps it so (every
// 5 ms, until undone) while the fault is on: space the target frees, a
// failed clone's staging dir removed, is taken again, as on a disk that
// something else keeps filling.
func (f DiskFull) Fill(dir string) (undo func() error, err error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	total, _, err := diskSpace(dir)
	if err != nil {
		return nil, fmt.Errorf("faults: diskfull on %s: %w", dir, err)
	}
	if total > MaxDiskFullBytes {
		return nil, fmt.Errorf("faults: diskfull on %s: the filesystem holds %d bytes, more than %d: refused", dir, total, MaxDiskFullBytes)
	}
	path := filepath.Join(dir, FillFile)
	fh, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("faults: diskfull on %s: %w", dir, err)
	}
	buf := make([]byte, 64<<10)
	top := func() error {
		for {
			_, avail, err := diskSpace(dir)
			if err != nil || avail <= f.Free {
				return err
			}
			_, err = fh.Write(buf[:min(int64(len(buf)), avail-f.Free)])
			if errors.Is(err, syscall.ENOSPC) {
				return nil // full before the count: a tmpfs counts whole pages
			}
			if err != nil {
				return err
			}
		}
	}
	if err := top(); err != nil {
		fh.Close()
		os.Remove(path)
		return nil, fmt.Errorf("faults: diskfull on %s: %w", dir, err)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				_ = top()
			}
		}
	}()
	var once sync.Once
	var uerr error
	return func() error {
		once.Do(func() {
			close(stop)
			<-done
			fh.Close()
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				uerr = fmt.Errorf("faults: diskfull: free %s: %w", path, err)
			}
		})
		return uerr
	}, nil
}

// DiskAvail is the bytes available on the tmpfs holding dir.
func DiskAvail(dir string) (int64, error) {
	_, avail, err := diskSpace(dir)
	return avail, err
}

// tmpfsSourcePrefix starts the source of every tmpfs MountTmpfs mounts
// (mountinfo shows it): "gitchaos-diskfull-<owner>".
const tmpfsSourcePrefix = "gitchaos-diskfull"

// TmpfsSource is the source MountTmpfs gives the tmpfs it mounts for the
// process id: it names the owner, so SweepTmpfs can tell a dead run's
// mount from a live one's.
func TmpfsSource(id owner.ID) string { return tmpfsSourcePrefix + "-" + id.String() }

// TmpfsSweep is what SweepTmpfs did, by mount point.
type TmpfsSweep struct {
	Unmounted []string // of dead owners
	Live      []string // of owners still running, left alone
	Unknown   []string // no owner in the source (older builds), left alone
}
