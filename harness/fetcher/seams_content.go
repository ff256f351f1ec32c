package fetcher

import "sync"

// ---- the files a bundle serves ----

// contentServer hands out the bundle built for a scope at its tracked
// commit: the correct one as built; a mutant may swap files in.
type contentServer interface {
	serve(id string, b *Bundle) *Bundle
}

// asBuilt serves the files read from the tree at the bundle's commit.
type asBuilt struct{}

func (asBuilt) serve(_ string, b *Bundle) *Bundle { return b }

// staleByPath is the stale-content-cache mutant: file contents cached by
// scope and path and never invalidated by a new commit, so a new revision
// is served under its own hash with the files first read for each path
// (Argo CD's manifest-cache poisoning, argo-cd#26530: content from a stale
// checkout cached under the new revision).
type staleByPath struct {
	mu sync.Mutex
	m  map[string]map[string]string // scope id -> path -> content first served
}

func (c *staleByPath) serve(id string, b *Bundle) *Bundle {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]map[string]string{}
	}
	files := c.m[id]
	if files == nil {
		files = map[string]string{}
		c.m[id] = files
	}
	cached := func(p, s string) string {
		if old, ok := files[p]; ok {
			return old
		}
		files[p] = s
		return s
	}
	out := *b
	out.PolicyModules = make([]PolicyModule, len(b.PolicyModules))
	for i, m := range b.PolicyModules {
		m.Rego = cached(m.Path, m.Rego)
		out.PolicyModules[i] = m
	}
	out.DataModules = make([]DataModule, len(b.DataModules))
	for i, m := range b.DataModules {
		m.Data = cached(m.Path+"/data.json", m.Data)
		out.DataModules[i] = m
	}
	return &out
}
