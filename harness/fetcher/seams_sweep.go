package fetcher

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ---- what a failed write leaves in a clone ----

// sweeper cleans a clone after git work on it failed part way.
type sweeper interface {
	// failed runs after a fetch or a repack of the clone in dir failed.
	failed(f *Fetcher, src *source, dir string)
}

// sweepTemp removes the temp files a failed write leaves under the
// clone's objects dir: go-git's PackWriter returns at a parse error
// before removing its tmp_pack_* (a fetch that ran out of disk or was cut
// off mid-pack), and it writes loose objects through tmp_obj_*. Only one
// operation runs on a source at a time, so none of them is in use.
type sweepTemp struct{}

func (sweepTemp) failed(f *Fetcher, src *source, dir string) {
	var n int
	_ = filepath.WalkDir(filepath.Join(dir, "objects"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !isTempObject(d.Name()) {
			return nil
		}
		if err := os.Remove(p); err != nil {
			f.log.Warn("remove temp file of a failed operation", "source", src.id, "path", p, "err", err)
			return nil
		}
		n++
		return nil
	})
	if n > 0 {
		f.log.Info("removed temp files of a failed operation", "source", src.id, "files", n)
	}
}

// isTempObject: a pack, index or object being written (git's and go-git's).
func isTempObject(name string) bool {
	for _, pre := range []string{"tmp_pack_", "tmp_idx_", "tmp_obj_", "tmp_rev_"} {
		if strings.HasPrefix(name, pre) {
			return true
		}
	}
	return false
}

// leaveTemp is the tmp-pack-left mutant: a failed fetch's half-written
// pack stays in objects/pack for good (argo-cd#18831: tmp_pack_* debris
// after fetches that ran out of disk).
type leaveTemp struct{}

func (leaveTemp) failed(*Fetcher, *source, string) {}
