package fetcher

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/gitchaos/gitchaos/harness/scopeapi"
)

// Bundle is the OPAL policy bundle of a scope at its tracked commit.
type Bundle struct {
	Manifest      []string       `json:"manifest"`
	Hash          string         `json:"hash"`
	OldHash       *string        `json:"old_hash"`
	DataModules   []DataModule   `json:"data_modules"`
	PolicyModules []PolicyModule `json:"policy_modules"`
	DeletedFiles  *struct{}      `json:"deleted_files"`
}

// DataModule is one data.json: path is its directory ("." at the root).
type DataModule struct {
	Path string `json:"path"`
	Data string `json:"data"`
}

// PolicyModule is one rego file.
type PolicyModule struct {
	Path        string `json:"path"`
	PackageName string `json:"package_name"`
	Rego        string `json:"rego"`
}

// errNotReady is returned for a scope that has no clone yet (HTTP 503).
var errNotReady = errors.New("scope not ready")

// bundleCache keeps the last bundle built per scope, keyed by its head.
type bundleCache struct {
	mu sync.Mutex
	m  map[string]cachedBundle
}

type cachedBundle struct {
	head string
	b    *Bundle
}

func (c *bundleCache) get(id, head string) *Bundle {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[id]; ok && e.head == head {
		return e.b
	}
	return nil
}

func (c *bundleCache) put(id, head string, b *Bundle) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]cachedBundle{}
	}
	c.m[id] = cachedBundle{head: head, b: b}
}

func (c *bundleCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}

func (c *bundleCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// Policy builds (or returns the cached) bundle of a scope at its tracked
// commit. It reads the clone through its own short-lived handle, never
// through the source lock, so hung git work cannot block it.
func (f *Fetcher) Policy(ctx context.Context, id string) (*Bundle, error) {
	f.mu.Lock()
	st, ok := f.scopes[id]
	var head, reason string
	var pol scopeapi.Policy
	var src *source
	if ok {
		head, reason, pol, src = st.head, st.reason, st.scope.Policy, f.sources[st.sid]
	}
	f.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("policy %s: %w", id, ErrNotFound)
	}
	if head == "" || src == nil {
		if reason == "" {
			reason = "not cloned yet"
		}
		return nil, fmt.Errorf("%w: %s", errNotReady, reason)
	}
	var b *Bundle
	err := f.strat.bundles.run(ctx, f, func() error {
		if b = f.bundles.get(id, head); b != nil {
			return nil
		}
		var err error
		for try := 0; ; try++ { // a repack may swap the packs under a read: read again once
			b, err = readBundle(src.dir, f.cfg.ObjectCacheBytes, head, pol)
			if err == nil || try == 1 {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("policy %s: %w", id, err)
		}
		b = f.strat.content.serve(id, b)
		f.bundles.put(id, head, b)
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %w", errNotReady, err)
		}
		return nil, err
	}
	return b, nil
}

// readBundle builds the bundle through its own short-lived handle.
func readBundle(dir string, cacheBytes int64, head string, pol scopeapi.Policy) (*Bundle, error) {
	st := openStorage(dir, cacheBytes, false)
	defer st.Close()
	repo, err := git.Open(st, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: open clone: %w", errNotReady, err)
	}
	return buildBundle(repo, head, pol)
}

var packageRe = regexp.MustCompile(`(?m)^\s*package\s+([A-Za-z0-9_.\[\]"]+)`)

// buildBundle reads the tree at head: rego and data.json files under the
// policy's directories with its extensions, in manifest order first.
func buildBundle(repo *git.Repository, head string, pol scopeapi.Policy) (*Bundle, error) {
	c, err := repo.CommitObject(plumbing.NewHash(head))
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", head, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("tree of %s: %w", head, err)
	}
	files := map[string]string{}
	var manifest []string
	err = tree.Files().ForEach(func(fl *object.File) error {
		if fl.Name == pol.Manifest {
			s, err := fl.Contents()
			if err != nil {
				return err
			}
			manifest = parseManifest(s)
			return nil
		}
		if !inDirs(fl.Name, pol.Directories) || !slices.Contains(pol.Extensions, path.Ext(fl.Name)) {
			return nil
		}
		if path.Ext(fl.Name) == ".json" && path.Base(fl.Name) != "data.json" {
			return nil
		}
		s, err := fl.Contents()
		if err != nil {
			return fmt.Errorf("%s: %w", fl.Name, err)
		}
		files[fl.Name] = s
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read tree %s: %w", head, err)
	}
	order := make([]string, 0, len(files))
	seen := map[string]bool{}
	for _, p := range manifest {
		if _, ok := files[p]; ok && !seen[p] {
			order, seen[p] = append(order, p), true
		}
	}
	var rest []string
	for p := range files {
		if !seen[p] {
			rest = append(rest, p)
		}
	}
	sort.Strings(rest)
	order = append(order, rest...)
	b := &Bundle{Manifest: order, Hash: head, DataModules: []DataModule{}, PolicyModules: []PolicyModule{}}
	for _, p := range order {
		if path.Base(p) == "data.json" {
			b.DataModules = append(b.DataModules, DataModule{Path: path.Dir(p), Data: files[p]})
			continue
		}
		pkg := ""
		if m := packageRe.FindStringSubmatch(files[p]); m != nil {
			pkg = m[1]
		}
		b.PolicyModules = append(b.PolicyModules, PolicyModule{Path: p, PackageName: pkg, Rego: files[p]})
	}
	return b, nil
}

func parseManifest(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		out = append(out, path.Clean(strings.TrimPrefix(l, "./")))
	}
	return out
}

func inDirs(p string, dirs []string) bool {
	for _, d := range dirs {
		d = path.Clean(strings.TrimPrefix(d, "./"))
		if d == "." || d == "" || p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}
