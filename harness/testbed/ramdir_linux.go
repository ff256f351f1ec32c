package testbed

import (
	"os"
	"syscall"
)

// ramDir returns /dev/shm when it is a writable tmpfs with room to spare.
func ramDir() (string, bool) {
	const dir = "/dev/shm"
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return "", false
	}
	if uint64(st.Bavail)*uint64(st.Bsize) < minShmFree {
		return "", false
	}
	f, err := os.CreateTemp(dir, ".gitchaos-probe-")
	if err != nil {
		return "", false
	}
	f.Close()
	os.Remove(f.Name())
	return dir, true
}
