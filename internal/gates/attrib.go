package gates

import (
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/gitchaos/gitchaos/harness/forensics"
	"github.com/gitchaos/gitchaos/harness/proctree"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
)

// Attribution of the objects of the target's process tree to scopes
// (docs/forensics.md, "Attribution to scopes").
//
// The harness learns where the target keeps each scope's clone by
// looking, once the scope is served, for git dirs under the target's base
// dir and watched dirs whose refs name a commit of the scope's generated
// repo (scopeSet.learnClones): no layout is assumed (OPAL's
// sha256(url)-shard is one of many). An object belongs to a deleted
// scope when its path (an fd's file, a mapping, a file on disk, a
// process's cwd) is under that scope's clone, or when it is a socket to
// that repo's git host (the testbed's proxy), no live scope uses the
// host, and the connection is not an idle pooled one (see heldSocket).

// clone is a dir where the target keeps a clone of one repo.
type clone struct {
	dir  string // as found under the watched dir
	real string // dir with symlinks resolved (what /proc shows)
	url  string // the repo's clone URL (through its host's proxy)
}

// heldObject is an object of the target's tree that belongs to a deleted
// scope.
type heldObject struct {
	obj   forensics.Object
	scope string // the deleted scope (the last one put on the repo)
	why   string // "under clone <dir>", "socket to <host>", ...
}

// commitRE finds full commit ids in refs files.
var commitRE = regexp.MustCompile(`\b[0-9a-f]{40}\b`)

// noteRepos records the commits of repos (their current heads), the
// content learnClones matches clones by.
func (ss *scopeSet) noteRepos(repos []Repo) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.commits == nil {
		ss.commits = map[string]string{}
	}
	for _, r := range repos {
		if r.Head != "" && r.Host != nil {
			ss.commits[r.Head] = r.URL()
		}
	}
}

// learnClones looks under the target's base dir and watched dirs for git
// dirs whose refs name a commit of repos (their heads now and every head
// noted before), and remembers each as the clone of its repo. Called when
// the scopes on repos were just served; it returns the clones known.
func (ss *scopeSet) learnClones(repos []Repo) int {
	return ss.learnIn(ss.s.forensicDirs(), repos)
}

// learnIn is learnClones under dirs.
func (ss *scopeSet) learnIn(dirs []string, repos []Repo) int {
	ss.noteRepos(repos)
	ss.mu.Lock()
	commits := ss.commits
	ss.mu.Unlock()
	found := map[string]string{}
	for _, root := range dirs {
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			if rel, _ := filepath.Rel(root, p); strings.Count(rel, string(filepath.Separator)) > 4 {
				return filepath.SkipDir
			}
			if !isGitDir(p) {
				return nil
			}
			for _, c := range refCommits(p) {
				if u, ok := commits[c]; ok {
					dir := p
					if filepath.Base(p) == ".git" {
						dir = filepath.Dir(p)
					}
					found[dir] = u
					break
				}
			}
			return filepath.SkipDir
		})
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.clones == nil {
		ss.clones = map[string]clone{}
	}
	for dir, u := range found {
		real, err := filepath.EvalSymlinks(dir)
		if err != nil {
			real = dir
		}
		ss.clones[dir] = clone{dir: dir, real: real, url: u}
	}
	return len(ss.clones)
}

// isGitDir reports whether p is a git dir (bare clone or .git): a HEAD
// file and an objects dir.
func isGitDir(p string) bool {
	if fi, err := os.Stat(filepath.Join(p, "HEAD")); err != nil || fi.IsDir() {
		return false
	}
	fi, err := os.Stat(filepath.Join(p, "objects"))
	return err == nil && fi.IsDir()
}

// refCommits lists the commit ids a git dir's refs name: packed-refs,
// FETCH_HEAD, HEAD and the loose refs (at most 200 files read).
func refCommits(gitDir string) []string {
	var out []string
	read := func(p string) {
		if b, err := os.ReadFile(p); err == nil && len(b) < 1<<20 {
			out = append(out, commitRE.FindAllString(string(b), -1)...)
		}
	}
	for _, f := range []string{"packed-refs", "FETCH_HEAD", "HEAD", "ORIG_HEAD"} {
		read(filepath.Join(gitDir, f))
	}
	n := 0
	_ = filepath.WalkDir(filepath.Join(gitDir, "refs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if n++; n > 200 {
			return filepath.SkipAll
		}
		read(p)
		return nil
	})
	return out
}

// hostAddr is the "IP:PORT" of a URL ("" when it has none).
func hostAddr(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Host
}

// deletedClones are the known clones no live scope serves from, each with
// the scope last put on its repo.
func (ss *scopeSet) deletedClones() map[string]clone {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	liveURL := map[string]bool{}
	for _, u := range ss.live {
		liveURL[u] = true
	}
	out := map[string]clone{}
	for d, c := range ss.clones {
		if !liveURL[c.url] {
			out[d] = c
		}
	}
	return out
}

// liveHosts are the host addresses live scopes use.
func (ss *scopeSet) liveHosts() map[string]bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	out := map[string]bool{}
	for _, u := range ss.live {
		out[hostAddr(u)] = true
	}
	return out
}

// lastScope is the last scope put on url ("" when none).
func (ss *scopeSet) lastScope(u string) string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.byURL[u]
}

// under reports whether path p is dir or below it.
func under(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+string(filepath.Separator))
}

// held lists the objects of snap that belong to deleted scopes: under a
// deleted scope's clone (an fd's file, a mapping, a file or dir, a
// process's cwd), or sockets that heldSocket counts. busy says which git
// host addresses have a git request in flight.
func (ss *scopeSet) held(snap *forensics.Snap, busy map[string]bool) []heldObject {
	dead := ss.deletedClones()
	live := ss.liveHosts()
	deadHosts := map[string]string{} // host addr -> url of a deleted clone on it
	for _, c := range dead {
		if h := hostAddr(c.url); h != "" && !live[h] {
			deadHosts[h] = c.url
		}
	}
	states := socketStates(snap)
	blockedOn := blockedSockets(snap)
	var out []heldObject
	objs := forensics.Objects(snap, ss.ids()...)
	// A process whose cwd is in a deleted scope's clone is held with its
	// threads (a `git cat-file --batch` of a repository object never closed).
	inClone := map[int]heldObject{}
	for _, o := range objs {
		if o.Kind == "proc" && o.Path != "" {
			for _, c := range dead {
				if under(o.Path, c.real) || under(o.Path, c.dir) {
					inClone[o.PID] = heldObject{scope: ss.lastScope(c.url), why: "thread of a process in clone " + c.dir}
				}
			}
		}
	}
	for _, o := range objs {
		if h, ok := inClone[o.PID]; ok && o.Kind == "thread" {
			h.obj = o
			out = append(out, h)
			continue
		}
		if o.Path != "" {
			for _, c := range dead {
				if under(o.Path, c.real) || under(o.Path, c.dir) {
					what := "under clone " + c.dir
					if o.Kind == "proc" {
						what = "cwd in clone " + c.dir
					}
					out = append(out, heldObject{obj: o, scope: ss.lastScope(c.url), why: what})
					break
				}
			}
			continue
		}
		if o.Kind != "fd" || o.Remote == "" {
			continue
		}
		u, ok := deadHosts[o.Remote]
		if !ok {
			continue
		}
		key := sockKey{pid: o.PID, fd: -1}
		_, _ = fmt.Sscanf(o.Example, "fd %d", &key.fd)
		if heldSocket(states[key], busy[o.Remote], blockedOn[key]) {
			out = append(out, heldObject{obj: o, scope: ss.lastScope(u), why: "socket to the git host of a deleted scope, no live scope on it"})
		}
	}
	return out
}

// heldSocket says whether a socket to a git host counts as held: in any
// state but ESTABLISHED (CLOSE_WAIT: the peer closed and the target never
// did), a thread blocked on it, or the host has a git request in flight
// (the connection carries one). An ESTABLISHED connection with no request
// on it and nobody waiting is an idle pooled keep-alive (Go's
// http.Transport keeps them up to 90 s): like an idle thread, it never
// counts.
func heldSocket(state string, hostBusy, blocked bool) bool {
	return state != "ESTABLISHED" || hostBusy || blocked
}

// sockKey identifies a socket fd object of a snapshot.
type sockKey struct{ pid, fd int }

// socketStates maps each socket fd object to its TCP state.
func socketStates(snap *forensics.Snap) map[sockKey]string {
	out := map[sockKey]string{}
	for _, p := range snap.Procs {
		for i := range p.FDs {
			f := &p.FDs[i]
			if f.Socket != nil {
				out[sockKey{p.PID, f.FD}] = f.Socket.State
			}
		}
	}
	return out
}

// blockedSockets marks the socket fd objects a thread of their process is
// blocked on.
func blockedSockets(snap *forensics.Snap) map[sockKey]bool {
	out := map[sockKey]bool{}
	for _, p := range snap.Procs {
		for _, t := range p.Threads {
			if t.Class != forensics.ClassBlocked || t.FD < 0 {
				continue
			}
			out[sockKey{p.PID, t.FD}] = true
		}
	}
	return out
}

// ids are the scope ids put so far (signature placeholders).
func (ss *scopeSet) ids() []string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	out := make([]string, 0, len(ss.byID))
	for id := range ss.byID {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// forensicDirs are the dirs a snapshot lists and clones are looked for
// in: the target's base dir and the dirs it names beyond it.
func (s *S) forensicDirs() []string {
	var dirs []string
	if s.Target.BaseDir() != "" {
		dirs = append(dirs, s.Target.BaseDir())
	}
	if w, ok := s.Target.(target.DirWatcher); ok {
		dirs = append(dirs, w.WatchDirs()...)
	}
	return dirs
}

// peers names the addresses of the testbed and the target for sockets:
// each host's proxy (what the target clones through) "git host hN", its
// git server "git server hN (direct)", the target's API address "harness
// client".
func (s *S) peers() map[string]string {
	out := map[string]string{}
	for _, h := range s.Testbed.Hosts() {
		if a := hostAddr(h.URL); a != "" {
			out[a] = "git host " + h.Name
		}
		if a := hostAddr(h.AdminURL); a != "" {
			out[a] = "git server " + h.Name + " (direct)"
		}
	}
	if a := hostAddr(s.Client.BaseURL); a != "" {
		out[a] = "harness client"
	}
	return out
}

// busyHosts says which git host (proxy) addresses have a git request in
// flight on their server now.
func (s *S) busyHosts(ctx context.Context) map[string]bool {
	out := map[string]bool{}
	for _, h := range s.Testbed.Hosts() {
		cs, err := h.Admin.AllCounters(ctx)
		if err != nil {
			out[hostAddr(h.URL)] = true // unknown: assume busy, so nothing is excused
			continue
		}
		for _, c := range cs {
			if c.InFlight > 0 {
				out[hostAddr(h.URL)] = true
			}
		}
	}
	return out
}

// ForensicsEnv is the environment variable that turns the gates'
// snapshots of the target's tree off ("off"): the checks that need them
// skip. For measuring what sampling costs the target (BENCHMARKS.md).
const ForensicsEnv = "GITCHAOS_FORENSICS"

// snapshot takes a forensic snapshot of the target's process tree (nil
// and the reason when its pid is unknown or /proc cannot be read). For an
// in-process target the root is the harness itself: its descendants are
// kept only when they carry the in-process marker (the fetcher's git
// children; the testbed's git http-backend children do not), and its own
// sockets are told apart by peer: the target clones through the
// testbed's proxies, which the harness never connects to (it talks to
// the git servers directly and to the target's listen address).
func (s *S) snapshot(ctx context.Context) (*forensics.Snap, string) {
	if os.Getenv(ForensicsEnv) == "off" {
		return nil, ForensicsEnv + "=off: no snapshots of the target's tree"
	}
	pr, ok := s.Target.(target.PIDer)
	if !ok {
		return nil, s.Target.Describe() + " does not say its pid"
	}
	pid := pr.PID()
	if pid <= 0 {
		return nil, s.Target.Describe() + ": pid unknown (a URL target needs --target-pid)"
	}
	snap, err := forensics.Snapshot(ctx, pid, forensics.Options{Dirs: s.forensicDirs(), Peers: s.peers(), IDs: s.scopes.ids()})
	if err != nil {
		return nil, fmt.Sprintf("snapshot of pid %d: %v", pid, err)
	}
	if pid == os.Getpid() {
		keepMarked(snap, target.InProcessMarker())
	}
	return snap, ""
}

// keepMarked drops the descendants of snap's root that do not carry
// marker (all of them when marker is "").
func keepMarked(snap *forensics.Snap, marker string) {
	keep := map[int]bool{snap.Root: true}
	if marker != "" {
		if ps, err := proctree.Tree(0, marker); err == nil {
			for _, p := range ps {
				keep[p.PID] = true
			}
		}
	}
	procs := snap.Procs[:0]
	for _, p := range snap.Procs {
		if keep[p.PID] {
			procs = append(procs, p)
		}
	}
	snap.Procs = procs
}

// heldGroups groups held objects by kind and signature, largest first,
// each naming the deleted scopes it holds objects of: what a failing
// check reports.
func heldGroups(held []heldObject) []result.Object {
	type key struct{ kind, sig string }
	idx := map[key]int{}
	var out []result.Object
	var scopes [][]string
	for _, h := range held {
		k := key{h.obj.Kind, h.obj.Signature}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, result.Object{Kind: h.obj.Kind, Signature: h.obj.Signature, Example: h.obj.Example})
			scopes = append(scopes, nil)
		}
		out[i].Count++
		out[i].Growth++
		if h.scope != "" && !slices.Contains(scopes[i], h.scope) {
			scopes[i] = append(scopes[i], h.scope)
		}
	}
	for i := range out {
		sort.Strings(scopes[i])
		out[i].Scope = strings.Join(scopes[i], ",")
	}
	// By kind first (fds, then processes, threads, mappings, files): a
	// reader acts on the descriptors and processes; then the most first.
	sort.SliceStable(out, func(i, j int) bool {
		if a, b := kindRank[out[i].Kind], kindRank[out[j].Kind]; a != b {
			return a < b
		}
		return out[i].Count > out[j].Count
	})
	return out
}

// kindRank orders object kinds in reports: what a reader acts on first.
var kindRank = map[string]int{"fd": 0, "proc": 1, "thread": 2, "map": 3, "file": 4, "dir": 5}

// sortObjects sorts groups by growth, then count, largest first, then
// by kind (fds and processes before mappings, threads and files: what a
// reader acts on first).
func sortObjects(out []result.Object) {
	rank := kindRank
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Growth != out[j].Growth {
			return out[i].Growth > out[j].Growth
		}
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return rank[out[i].Kind] < rank[out[j].Kind]
	})
}

// objectsText renders the top n groups, one per line.
func objectsText(objs []result.Object, n int) string {
	var b strings.Builder
	for i, o := range objs {
		if i == n {
			fmt.Fprintf(&b, "\n  … and %d more groups", len(objs)-n)
			break
		}
		fmt.Fprintf(&b, "\n  %d %s %s", o.Count, o.Kind, o.Signature)
		if o.Scope != "" {
			fmt.Fprintf(&b, " [deleted scopes %s]", shortList(o.Scope, 4))
		}
		fmt.Fprintf(&b, "   e.g. %s", forensics.Shorten(o.Example, 240))
	}
	return b.String()
}

// diffObjects are the growing groups of a diff as report objects.
func diffObjects(d forensics.Diff, n int) []result.Object {
	var out []result.Object
	for _, g := range d.Top(n) {
		out = append(out, result.Object{Kind: g.Kind, Signature: g.Signature, Count: g.After, Growth: g.Growth, Example: g.Example})
	}
	return out
}

// withObjects sets the objects of the last recorded check c and appends
// their top groups to its explanation.
func (r *recorder) withObjects(c *Check, objs []result.Object, n int) {
	if len(objs) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.res.Checks) - 1; i >= 0; i-- {
		if rc := &r.res.Checks[i]; rc.ID == c.ID {
			if rc.Objects != nil {
				return // named already (by identity)
			}
			rc.Objects = objs
			rc.Explanation += objectsText(objs, n)
			return
		}
	}
}

// shortList cuts a comma-separated list to its first n items and a count.
func shortList(list string, n int) string {
	items := strings.Split(list, ",")
	if len(items) <= n {
		return list
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ","), len(items)-n)
}
