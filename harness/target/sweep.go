package target

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gitchaos/gitchaos/harness/owner"
	"github.com/gitchaos/gitchaos/harness/proctree"
)

// SweepResult is what SweepExecDirs did.
type SweepResult struct {
	Removed []string // dirs removed (their owner is dead)
	Live    []string // dirs of owners still running, left alone
	Unknown []string // dirs whose name carries no owner (older builds), left alone
}

// SweepExecDirs removes the exec targets' base and log dirs in tempDir
// ("" = os.TempDir()) whose owning harness process is dead (pid and start
// time in the name, see ExecDirPrefix): what a SIGKILLed run left when its
// guard could not clean up. Before a dir goes, any process still carrying
// its marker is killed, so nothing writes into it again. Dirs of live
// owners (other runs going on now) are never touched.
func SweepExecDirs(tempDir string) (SweepResult, error) {
	if tempDir == "" {
		tempDir = os.TempDir()
	}
	var res SweepResult
	ents, err := os.ReadDir(tempDir)
	if err != nil {
		return res, fmt.Errorf("sweep exec dirs: %w", err)
	}
	var errs []error
	for _, e := range ents {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, ExecDirPrefix) {
			continue
		}
		path := filepath.Join(tempDir, name)
		id, ok := execDirOwner(name)
		switch {
		case !ok:
			res.Unknown = append(res.Unknown, path)
			continue
		case id.Alive():
			res.Live = append(res.Live, path)
			continue
		}
		base := ExecBaseOf(name)
		if err := proctree.Kill(0, proctree.KillOptions{Marker: proctree.Marker(base)}); err != nil {
			errs = append(errs, fmt.Errorf("sweep %s: %w", path, err))
			continue
		}
		if err := os.RemoveAll(path); err != nil {
			errs = append(errs, fmt.Errorf("sweep: %w", err))
			continue
		}
		res.Removed = append(res.Removed, path)
	}
	return res, errors.Join(errs...)
}

// execDirOwner reads the owner from "gitchaos-exec-<pid>.<start>-<rand>[-logs|-tmp]".
func execDirOwner(name string) (owner.ID, bool) {
	rest := strings.TrimPrefix(name, ExecDirPrefix)
	o, _, ok := strings.Cut(rest, "-")
	if !ok || !strings.Contains(o, ".") {
		return owner.ID{}, false
	}
	id, err := owner.Parse(o)
	return id, err == nil
}
