package probe

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gitchaos/gitchaos/harness/metric"
)

// DiskFiles is the number of regular files under a Dir source's directory.
const DiskFiles = metric.DiskFiles

// dirTotals are what a walk of a Dir source's directories adds up.
type dirTotals struct{ bytes, files float64 }

// dirReader reads one metric from a walk's totals.
type dirReader struct {
	metric string
	read   func(dirTotals) float64
}

// dirReaders read the metrics that harness/metric's table says a Dir
// source reads.
var dirReaders = []dirReader{
	{metric.Disk, func(t dirTotals) float64 { return t.bytes }},
	{metric.DiskFiles, func(t dirTotals) float64 { return t.files }},
}

type dirSource struct{ paths []string }

// Dir measures bytes on disk under a directory (the apparent sizes of
// regular files, symlinks not followed) and the number of files. A
// directory that does not exist (yet, or any more) holds 0 bytes; files
// that vanish during the walk are skipped. A directory that cannot be
// read (permissions, a path component that is a file) makes disk_bytes
// and disk_files unavailable, with the reason, rather than 0.
func Dir(path string) (Source, error) { return Dirs(path) }

// Dirs is Dir over several directories (a target's base dir and its temp
// dir, say): disk_bytes and disk_files are their sums.
func Dirs(paths ...string) (Source, error) {
	if len(paths) == 0 {
		return nil, errors.New("probe: dir source: no path")
	}
	s := &dirSource{}
	for _, path := range paths {
		if path == "" {
			return nil, errors.New("probe: dir source: path is empty")
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("probe: dir source %q: %w", path, err)
		}
		s.paths = append(s.paths, abs)
	}
	return s, nil
}

func (s *dirSource) Name() string { return "dir " + strings.Join(s.paths, " + ") }

func (s *dirSource) Sample(ctx context.Context) (Sample, error) {
	var t dirTotals
	var err error
	for _, path := range s.paths {
		if err = s.walk(ctx, path, &t); err != nil {
			break
		}
	}
	return s.sample(ctx, t, err)
}

func (s *dirSource) walk(ctx context.Context, path string, t *dirTotals) error {
	return filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
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
			t.bytes += float64(info.Size())
			t.files++
		}
		return nil
	})
}

func (s *dirSource) sample(ctx context.Context, t dirTotals, err error) (Sample, error) {
	smp := newSample()
	if cerr := ctx.Err(); cerr != nil {
		return Sample{}, fmt.Errorf("probe: %s: %w", s.Name(), cerr)
	}
	failed := err != nil && !errors.Is(err, os.ErrNotExist)
	for _, r := range dirReaders {
		if failed {
			smp.unavailable(r.metric, fmt.Sprintf("%s: %v", s.Name(), err))
			continue
		}
		smp.set(r.metric, r.read(t), s.Name())
	}
	smp.Time = time.Now()
	return smp, nil
}
