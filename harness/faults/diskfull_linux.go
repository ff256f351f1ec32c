package faults

import (
	"fmt"
	"sync"
	"syscall"
)

// tmpfsMagic is the statfs type of a tmpfs (linux/magic.h TMPFS_MAGIC).
const tmpfsMagic = 0x01021994

// diskSpace is the size and the bytes available of the tmpfs holding dir
// (an error for any other filesystem).
func diskSpace(dir string) (total, avail int64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	if int64(st.Type) != tmpfsMagic {
		return 0, 0, fmt.Errorf("not a tmpfs (statfs type %#x): refused", st.Type)
	}
	return int64(st.Blocks) * int64(st.Bsize), int64(st.Bavail) * int64(st.Bsize), nil
}

// MountTmpfs mounts a tmpfs of size bytes on dir (which must exist) and
// returns its unmount: a plain unmount, or a lazy one (MNT_DETACH) when
// something still holds the filesystem, so that it always comes off. It
// needs CAP_SYS_ADMIN (root); the error says so when it is refused.
func MountTmpfs(dir string, size int64) (unmount func() error, err error) {
	if size <= 0 {
		return nil, fmt.Errorf("faults: mount tmpfs on %s: size %d: must be > 0", dir, size)
	}
	if err := syscall.Mount("gitchaos-diskfull", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		return nil, fmt.Errorf("faults: mount a %d-byte tmpfs on %s: %w (mounting needs root or CAP_SYS_ADMIN)", size, dir, err)
	}
	var once sync.Once
	var uerr error
	return func() error {
		once.Do(func() {
			if err := syscall.Unmount(dir, 0); err != nil {
				if err2 := syscall.Unmount(dir, syscall.MNT_DETACH); err2 != nil {
					uerr = fmt.Errorf("faults: unmount %s: %w (lazy: %v)", dir, err, err2)
				}
			}
		})
		return uerr
	}, nil
}
