package gates

import (
	"context"
	"fmt"
	"sync"

	"github.com/gitchaos/gitchaos/harness/faults"
	"github.com/gitchaos/gitchaos/harness/result"
)

// injectDisk applies a disk fault to the filesystem holding dir (the
// target's base dir) and records it like a host's fault (host "target").
// The returned undo is idempotent; recoverAll undoes it too.
func (fs *faultStack) injectDisk(dir string, f faults.DiskFault) (func(context.Context) error, error) {
	undo, err := f.Fill(dir)
	if err != nil {
		return nil, fmt.Errorf("inject %s on %s: %w", f.Name(), dir, err)
	}
	fs.log("target", "", f.String(), result.FaultInject)
	var once sync.Once
	var uerr error
	wrapped := func(context.Context) error {
		once.Do(func() {
			uerr = undo()
			fs.log("target", "", f.String(), result.FaultRecover)
		})
		return uerr
	}
	fs.mu.Lock()
	fs.undo = append(fs.undo, wrapped)
	fs.mu.Unlock()
	return wrapped, nil
}
