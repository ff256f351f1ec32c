package probe

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// DiskFiles is the number of regular files under a Dir source's directory.
const DiskFiles = "disk_files"

type dirSource struct{ path string }

// Dir measures bytes on disk under a directory (the apparent sizes of
// regular files, symlinks not followed) and the number of files. A
// directory that does not exist (yet, or any more) holds 0 bytes; files
// that vanish during the walk are skipped. A directory that cannot be
// read (permissions, a path component that is a file) makes disk_bytes
// and disk_files unavailable, with the reason, rather than 0.
func Dir(path string) (Source, error) {
	if path == "" {
		return nil, errors.New("probe: dir source: path is empty")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("probe: dir source %q: %w", path, err)
	}
	return &dirSource{path: abs}, nil
}

func (s *dirSource) Name() string { return "dir " + s.path }

func (s *dirSource) Sample(ctx context.Context) (Sample, error) {
	var bytes, files float64
	err := filepath.WalkDir(s.path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			bytes += float64(info.Size())
			files++
		}
		return nil
	})
	smp := newSample()
	if cerr := ctx.Err(); cerr != nil {
		return Sample{}, fmt.Errorf("probe: %s: %w", s.Name(), cerr)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		why := fmt.Sprintf("%s: %v", s.Name(), err)
		smp.unavailable(Disk, why)
		smp.unavailable(DiskFiles, why)
		smp.Time = time.Now()
		return smp, nil
	}
	smp.set(Disk, bytes, s.Name())
	smp.set(DiskFiles, files, s.Name())
	smp.Time = time.Now()
	return smp, nil
}
