// Content integrity: every bundle a gate reads while it waits for its
// scopes (scopeSet.ServedFrom) is kept, once per scope, revision and
// content, and compared with the repo's files at the bundle's hash. The
// harness made the repos (repogen through the git servers' admin API), so
// it reads them back: a clone into memory straight from the git server
// (Host.DirectRepoURL, past every network fault), one per repo and check,
// dropped afterwards. A bundle whose revision label is right and whose
// files are not (a cache keyed by scope and path: Argo CD's manifest-cache
// poisoning, argo-cd#26530) fails with the path and the first differing
// line.
//
// A gate turns it on (scopeSet.watchContent) before it puts its scopes and
// records its content check with one line at its end:
//
//	s.rec.Add(repeatSyncContent, s.scopes.contentCheck(ctx))
//
// The soak verifies at each quiet point (verifyContent) and records once.

package gates

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
)

// contentLog is what a scenario's content check has seen: the bundles
// not compared yet and the running totals.
type contentLog struct {
	mu      sync.Mutex
	pending []servedContent
	seen    map[string]bool // scope, hash and content digest of every bundle kept
	scopes  map[string]bool // scopes whose bundles were compared
	revs    map[string]bool // revisions compared
	checked int             // bundles compared
	bad     int             // bundles that disagree with their revision
	first   []string        // the first mismatches, described
	unknown int             // bundles whose revision the repo does not have (history rewritten since)
	errs    []string        // repos that could not be read
	spent   time.Duration   // reading repos back and comparing
}

// servedContent is one served bundle's files.
type servedContent struct {
	id, url, hash string
	files         map[string]string // path -> served content (a data module: "<dir>/data.json")
	parsed        map[string]bool   // data modules served as JSON values, not text: compared as JSON
	problems      []string          // what is wrong with the bundle's shape itself
}

// maxContentShown is how many mismatches an explanation names.
const maxContentShown = 3

// watchContent makes the scenario keep the bundles it reads for its content
// check. Off by default: a gate that does not check content keeps nothing.
func (ss *scopeSet) watchContent() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.content == nil {
		ss.content = &contentLog{seen: map[string]bool{}, scopes: map[string]bool{}, revs: map[string]bool{}}
	}
}

// noteServed keeps b, served for scope id, for the content check (once per
// scope, revision and content).
func (ss *scopeSet) noteServed(id string, b target.Bundle) {
	ss.mu.Lock()
	cl, url := ss.content, ss.byID[id]
	ss.mu.Unlock()
	if cl == nil || b.Hash == "" {
		return
	}
	sc := bundleContent(b)
	sc.id, sc.url, sc.hash = id, url, b.Hash
	key := id + "\x00" + b.Hash + "\x00" + sc.digest()
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.seen[key] {
		return
	}
	cl.seen[key] = true
	cl.pending = append(cl.pending, sc)
}

// bundleContent reads a bundle's modules: OPAL's shapes, a policy module
// {path, rego} and a data module {path: its directory, data}.
func bundleContent(b target.Bundle) servedContent {
	sc := servedContent{files: map[string]string{}, parsed: map[string]bool{}}
	add := func(p, content string, parsed bool) {
		if _, dup := sc.files[p]; dup {
			sc.problems = append(sc.problems, p+": served twice")
		}
		sc.files[p], sc.parsed[p] = content, parsed
	}
	for i, m := range b.PolicyModules {
		mod, _ := m.(map[string]any)
		p, okP := mod["path"].(string)
		rego, okR := mod["rego"].(string)
		if !okP || !okR {
			sc.problems = append(sc.problems, fmt.Sprintf("policy module %d: no string path and rego", i))
			continue
		}
		add(cleanRepoPath(p), rego, false)
	}
	for i, m := range b.DataModules {
		mod, _ := m.(map[string]any)
		dir, okP := mod["path"].(string)
		if !okP {
			sc.problems = append(sc.problems, fmt.Sprintf("data module %d: no string path", i))
			continue
		}
		p := path.Join(cleanRepoPath(dir), "data.json")
		switch d := mod["data"].(type) {
		case string:
			add(p, d, false)
		default: // a server that parses data.json: compare as JSON
			raw, err := json.Marshal(d)
			if err != nil {
				sc.problems = append(sc.problems, fmt.Sprintf("%s: data not JSON: %v", p, err))
				continue
			}
			add(p, string(raw), true)
		}
	}
	return sc
}

// cleanRepoPath is a module path relative to the repo root ("." for the
// root itself).
func cleanRepoPath(p string) string {
	p = strings.TrimLeft(p, "/")
	if p == "" {
		return "."
	}
	return path.Clean(p)
}

func (sc servedContent) digest() string {
	keys := make([]string, 0, len(sc.files))
	for p := range sc.files {
		keys = append(keys, p)
	}
	slices.Sort(keys)
	h := sha256.New()
	for _, p := range keys {
		fmt.Fprintf(h, "%s\x00%d\x00%s\x00", p, len(sc.files[p]), sc.files[p])
	}
	fmt.Fprint(h, strings.Join(sc.problems, "\x00"))
	return hex.EncodeToString(h.Sum(nil))
}

// directURL is the repo at url (a scope's URL through a host's proxy)
// straight at its git server, or "" when url is on no testbed host.
func (ss *scopeSet) directURL(url string) string {
	for _, h := range ss.s.Testbed.Hosts() {
		if name, ok := strings.CutPrefix(url, h.URL+"/"); ok {
			if name, ok = strings.CutSuffix(name, ".git"); ok && h.AdminURL != "" {
				return h.DirectRepoURL(name)
			}
		}
	}
	return ""
}

// verifyContent compares the bundles kept since the last call with the
// repos' files at their revisions and adds to the totals. One clone per
// repo, dropped afterwards, and the idle connections closed: an
// in-process target's fds, goroutines and heap are this process's.
func (ss *scopeSet) verifyContent(ctx context.Context) {
	ss.mu.Lock()
	cl := ss.content
	ss.mu.Unlock()
	if cl == nil {
		return
	}
	cl.mu.Lock()
	pending := cl.pending
	cl.pending = nil
	cl.mu.Unlock()
	if len(pending) == 0 {
		return
	}
	t0 := time.Now()
	defer func() {
		cl.mu.Lock()
		cl.spent += time.Since(t0)
		cl.mu.Unlock()
		if t, ok := http.DefaultTransport.(*http.Transport); ok {
			t.CloseIdleConnections()
		}
	}()
	slices.SortStableFunc(pending, func(a, b servedContent) int { return cmp.Compare(a.url, b.url) })
	for i := 0; i < len(pending); {
		j := i
		for j < len(pending) && pending[j].url == pending[i].url {
			j++
		}
		group := pending[i:j]
		i = j
		repo, err := ss.readRepo(ctx, group[0].url)
		if err != nil {
			cl.mu.Lock()
			cl.errs = append(cl.errs, fmt.Sprintf("%d bundles of %s not compared: %v", len(group), orDefault(group[0].url, "a scope the harness did not put"), err))
			cl.mu.Unlock()
			continue
		}
		files := map[string]map[string]string{} // revision -> its policy and data files
		for _, sc := range group {
			want, ok := files[sc.hash]
			if !ok {
				want, err = policyFiles(repo, sc.hash)
				if errors.Is(err, plumbing.ErrObjectNotFound) {
					cl.mu.Lock()
					cl.unknown++
					cl.mu.Unlock()
					continue
				}
				if err != nil {
					cl.mu.Lock()
					cl.errs = append(cl.errs, fmt.Sprintf("scope %s at %s: %v", sc.id, short(sc.hash), err))
					cl.mu.Unlock()
					continue
				}
				files[sc.hash] = want
			}
			problems := compareContent(sc, want)
			cl.mu.Lock()
			cl.checked++
			cl.scopes[sc.id], cl.revs[sc.hash] = true, true
			if len(problems) > 0 {
				cl.bad++
				if len(cl.first) < maxContentShown {
					more := ""
					if len(problems) > 1 {
						more = fmt.Sprintf(" (+%d more files)", len(problems)-1)
					}
					cl.first = append(cl.first, fmt.Sprintf("scope %s serves %s: %s%s", sc.id, short(sc.hash), problems[0], more))
				}
			}
			cl.mu.Unlock()
		}
	}
}

// readRepo clones the repo behind a scope's URL into memory, straight
// from its git server.
func (ss *scopeSet) readRepo(ctx context.Context, url string) (*git.Repository, error) {
	direct := ss.directURL(url)
	if direct == "" {
		return nil, fmt.Errorf("%s is on no host of the testbed", url)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	repo, err := git.CloneContext(ctx, memory.NewStorage(), nil, &git.CloneOptions{URL: direct, NoCheckout: true, Tags: git.NoTags})
	if err != nil {
		return nil, fmt.Errorf("read %s back: %w", direct, err)
	}
	return repo, nil
}

// policyFiles are the files at commit hash a scope as the harness puts it
// serves (directories ["."], extensions .rego and .json, where a .json file
// counts only as data.json: OPAL's is_data_module).
func policyFiles(repo *git.Repository, hash string) (map[string]string, error) {
	c, err := repo.CommitObject(plumbing.NewHash(hash))
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", short(hash), err)
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("tree of %s: %w", short(hash), err)
	}
	out := map[string]string{}
	err = tree.Files().ForEach(func(f *object.File) error {
		if path.Ext(f.Name) != ".rego" && path.Base(f.Name) != "data.json" {
			return nil
		}
		s, err := f.Contents()
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		out[f.Name] = s
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("files of %s: %w", short(hash), err)
	}
	return out, nil
}

// compareContent lists what differs between a served bundle and the repo's
// files at its revision, each naming the path (and the first differing
// line), paths in order.
func compareContent(sc servedContent, want map[string]string) []string {
	out := slices.Clone(sc.problems)
	paths := make([]string, 0, len(sc.files)+len(want))
	for p := range sc.files {
		paths = append(paths, p)
	}
	for p := range want {
		if _, ok := sc.files[p]; !ok {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	for _, p := range paths {
		got, served := sc.files[p]
		exp, inRepo := want[p]
		switch {
		case !inRepo:
			out = append(out, p+": served, not in the repo at this revision")
		case !served:
			out = append(out, p+": in the repo at this revision, not served")
		case sc.parsed[p]:
			var a, b any
			if json.Unmarshal([]byte(got), &a) != nil || json.Unmarshal([]byte(exp), &b) != nil || !reflect.DeepEqual(a, b) {
				out = append(out, p+": "+firstDiff(got, exp))
			}
		case got != exp:
			out = append(out, p+": "+firstDiff(got, exp))
		}
	}
	return out
}

// firstDiff names the first line where served and repo differ (lines
// counted from 1; a missing line is the end of the file).
func firstDiff(served, repo string) string {
	a := strings.Split(strings.TrimSuffix(served, "\n"), "\n")
	b := strings.Split(strings.TrimSuffix(repo, "\n"), "\n")
	for i := 0; i < max(len(a), len(b)); i++ {
		if i >= len(a) || i >= len(b) || a[i] != b[i] {
			return fmt.Sprintf("line %d: served %s, repo %s", i+1, lineOrEnd(a, i), lineOrEnd(b, i))
		}
	}
	return fmt.Sprintf("line %d: the newline at the end of the file differs", len(a))
}

func lineOrEnd(lines []string, i int) string {
	if i >= len(lines) {
		return "(end of file)"
	}
	l := lines[i]
	if len(l) > 72 {
		l = l[:69] + "..."
	}
	return fmt.Sprintf("%q", l)
}

// contentCheck verifies what is pending and returns the content check:
// bundles that disagree with their revision, budget 0. Skipped when no
// bundle could be compared (the reason says why); an error when a repo
// could not be read and nothing failed.
func (ss *scopeSet) contentCheck(ctx context.Context) result.Check {
	ss.verifyContent(ctx)
	ss.mu.Lock()
	cl := ss.content
	ss.mu.Unlock()
	if cl == nil {
		return result.Check{Measured: "n/a", Budget: "n/a", Verdict: result.Skip, Explanation: "the gate kept no bundles (watchContent was never called)"}
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	what := fmt.Sprintf("%d distinct bundles (%d scopes, %d revisions) compared file by file with the repo at their hash, read back from the git server (%v)", cl.checked, len(cl.scopes), len(cl.revs), cl.spent.Round(time.Millisecond))
	if cl.unknown > 0 {
		what += fmt.Sprintf("; %d at a revision the repo no longer has (history rewritten) not compared", cl.unknown)
	}
	if len(cl.errs) > 0 {
		what += "; " + strings.Join(cl.errs, "; ")
	}
	switch {
	case cl.bad == 0 && len(cl.errs) > 0:
		return result.Check{Verdict: result.Error, Explanation: what}
	case cl.checked == 0:
		return result.Check{Measured: "n/a", Budget: "n/a", Verdict: result.Skip, Explanation: "no bundle compared: " + what}
	}
	rc := result.Check{
		Measured: result.FormatValue(float64(cl.bad), unitCount), Budget: "== " + result.FormatValue(0, unitCount),
		Value: float64(cl.bad), Unit: unitCount, Verdict: result.Pass, Explanation: what,
	}
	if cl.bad > 0 {
		rc.Verdict = result.Fail
		rc.Explanation = strings.Join(cl.first, "; ") + "; " + what
	}
	return rc
}
