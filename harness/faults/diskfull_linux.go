package faults

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/gitchaos/gitchaos/harness/owner"
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
// needs CAP_SYS_ADMIN (root); the error says so when it is refused. The
// mount's source names this process (TmpfsSource), so SweepTmpfs can take
// off what a SIGKILLed run left mounted.
func MountTmpfs(dir string, size int64) (unmount func() error, err error) {
	return mountTmpfsAs(dir, size, TmpfsSource(owner.Self()))
}

func mountTmpfsAs(dir string, size int64, source string) (unmount func() error, err error) {
	if size <= 0 {
		return nil, fmt.Errorf("faults: mount tmpfs on %s: size %d: must be > 0", dir, size)
	}
	if err := syscall.Mount(source, dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
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

// SweepTmpfs unmounts (lazily) every tmpfs MountTmpfs mounted for a
// process that is dead now: what a harness SIGKILLed in the middle of the
// disk-full gate left over its target's base dir. Mounts of live owners
// are left alone (Live); a "gitchaos-diskfull" mount without an owner
// (made by an older gitchaos) is reported in Unknown and left alone.
func SweepTmpfs() (TmpfsSweep, error) {
	var res TmpfsSweep
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return res, fmt.Errorf("sweep tmpfs: %w", err)
	}
	defer f.Close()
	var errs []error
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		point, source, ok := diskfullMount(sc.Text())
		if !ok {
			continue
		}
		id, err := owner.Parse(strings.TrimPrefix(source, tmpfsSourcePrefix+"-"))
		switch {
		case err != nil: // "gitchaos-diskfull" alone, or no owner after it
			res.Unknown = append(res.Unknown, point)
		case id.Alive():
			res.Live = append(res.Live, point)
		default:
			if err := syscall.Unmount(point, syscall.MNT_DETACH); err != nil {
				errs = append(errs, fmt.Errorf("sweep tmpfs: unmount %s (of dead %s): %w", point, id, err))
				continue
			}
			res.Unmounted = append(res.Unmounted, point)
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("sweep tmpfs: read mountinfo: %w", err))
	}
	return res, errors.Join(errs...)
}

// diskfullMount reads one line of /proc/self/mountinfo (proc(5)): the
// mount point and source of a tmpfs whose source is MountTmpfs's.
func diskfullMount(line string) (point, source string, ok bool) {
	pre, post, found := strings.Cut(line, " - ")
	if !found {
		return "", "", false
	}
	f, g := strings.Fields(pre), strings.Fields(post)
	if len(f) < 5 || len(g) < 2 || g[0] != "tmpfs" || !strings.HasPrefix(g[1], tmpfsSourcePrefix) {
		return "", "", false
	}
	return unescapeMount(f[4]), g[1], true
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space, \011,
// \012, \134).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
