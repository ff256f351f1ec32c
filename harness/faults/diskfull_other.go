//go:build !linux

package faults

import "errors"

// diskSpace: DiskFull fills a tmpfs, which only Linux has here.
func diskSpace(string) (total, avail int64, err error) {
	return 0, 0, errors.New("diskfull needs a Linux tmpfs")
}

// MountTmpfs: a size-limited tmpfs is Linux's.
func MountTmpfs(dir string, size int64) (unmount func() error, err error) {
	return nil, errors.New("faults: a size-limited tmpfs needs Linux")
}

// SweepTmpfs: nothing is mounted off Linux.
func SweepTmpfs() (TmpfsSweep, error) { return TmpfsSweep{}, nil }
