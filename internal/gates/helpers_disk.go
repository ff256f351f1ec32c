package gates

import (
	"os"
	"path/filepath"
	"sort"

	"github.com/gitchaos/gitchaos/harness/target"
)

// CloneDirs lists the clone dirs under the target's base dir (nil, false
// when the base dir is unknown).
func (s *S) CloneDirs() ([]string, bool) {
	if s.Target.BaseDir() == "" {
		return nil, false
	}
	ents, err := os.ReadDir(filepath.Join(s.Target.BaseDir(), "git_sources"))
	if err != nil {
		return nil, true
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, true
}

// watchedDirs are the dirs whose disk use counts as the target's clone
// data: <base>/git_sources and the dirs the target names beyond its base
// dir (an exec target's TMPDIR, a URL target's --target-watch-dir).
func (s *S) watchedDirs() []string {
	var dirs []string
	if s.Target.BaseDir() != "" {
		dirs = append(dirs, filepath.Join(s.Target.BaseDir(), "git_sources"))
	}
	if w, ok := s.Target.(target.DirWatcher); ok {
		dirs = append(dirs, w.WatchDirs()...)
	}
	return dirs
}

// DirBytes is the disk use under the watched dirs (false when there is
// none: the base dir is unknown and the target names no other dir).
func (s *S) DirBytes() (float64, bool) {
	dirs := s.watchedDirs()
	if len(dirs) == 0 {
		return 0, false
	}
	var n int64
	for _, dir := range dirs {
		_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if fi, err := d.Info(); err == nil {
					n += fi.Size()
				}
			}
			return nil
		})
	}
	return float64(n), true
}
