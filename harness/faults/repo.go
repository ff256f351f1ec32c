package faults

import (
	"fmt"
	"strings"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
)

// RepoFault is a repo fault: a server-side fault on one repo, which the
// git server (package gitserver) applies to that repo's git requests. Set
// it with gitserver's AdminClient.SetFault(ctx, repo, f.Fault).
type RepoFault struct {
	gitserver.Fault
}

// Name is the catalog name: the gitserver mode.
func (f RepoFault) Name() string { return string(f.Mode) }

// String is the fault's ParseSpec form: the mode, then its non-zero
// settings, e.g. "slow:bytes_per_sec=2048,count=4".
func (f RepoFault) String() string {
	var kv []string
	if f.BytesPerSec != 0 {
		kv = append(kv, fmt.Sprintf("bytes_per_sec=%d", f.BytesPerSec))
	}
	if f.Count != 0 {
		kv = append(kv, fmt.Sprintf("count=%d", f.Count))
	}
	if f.Op != "" {
		kv = append(kv, "op="+f.Op)
	}
	if len(kv) == 0 {
		return f.Name()
	}
	return f.Name() + ":" + strings.Join(kv, ",")
}

// parseRepo parses the keys of a repo fault of mode m (the catalog row
// says which keys the mode takes).
func parseRepo(m gitserver.FaultMode) func(p *params) (Spec, error) {
	return func(p *params) (Spec, error) {
		f := RepoFault{gitserver.Fault{Mode: m, Op: p.values["op"]}}
		n, err := p.integer("count", 0)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, p.errorf("count", "must be >= 0")
		}
		f.Count = int(n)
		if n, err = p.integer("bytes_per_sec", 0); err != nil {
			return nil, err
		}
		if n <= 0 && m == gitserver.FaultSlow {
			return nil, p.errorf("bytes_per_sec", "must be > 0")
		}
		f.BytesPerSec = int(n)
		if err := f.Validate(); err != nil {
			return nil, fmt.Errorf("faults: %s: %w", m, err)
		}
		return f, nil
	}
}
