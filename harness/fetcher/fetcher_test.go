package fetcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/repogen"
	"github.com/gitchaos/gitchaos/harness/scopeapi"
)

func TestPutGetPolicy(t *testing.T) {
	srv := newGitSrv(t)
	url, head := srv.addRepo("r1", 1)
	e := startEnv(t, testConfig(t))
	e.put("s1", url)

	if code, b := e.do("GET", "/scopes/s1", nil); code != http.StatusOK || !strings.Contains(string(b), url) {
		t.Fatalf("GET /scopes/s1: HTTP %d: %s", code, b)
	}
	code, b := e.do("GET", "/scopes", nil)
	var list []scopeapi.Scope
	if code != http.StatusOK || json.Unmarshal(b, &list) != nil || len(list) != 1 || list[0].ScopeID != "s1" {
		t.Fatalf("GET /scopes: HTTP %d: %s", code, b)
	}
	if code, b := e.do("GET", "/scopes/nope", nil); code != http.StatusNotFound {
		t.Fatalf("GET unknown scope: HTTP %d: %s", code, b)
	}

	e.waitHash("s1", head, 10*time.Second)
	bd, _ := e.policy("s1")
	if len(bd.PolicyModules) == 0 || len(bd.DataModules) == 0 {
		t.Fatalf("bundle has %d policy and %d data modules; want both > 0", len(bd.PolicyModules), len(bd.DataModules))
	}
	for _, m := range bd.PolicyModules {
		if want := repogen.RegoPackage(m.Path); m.PackageName != want {
			t.Errorf("module %s: package %q, want %q", m.Path, m.PackageName, want)
		}
	}
	// the manifest order is honoured: rego paths appear in the .manifest's order
	var regoOrder []string
	for _, p := range bd.Manifest {
		if strings.HasSuffix(p, ".rego") {
			regoOrder = append(regoOrder, p)
		}
	}
	for i, m := range bd.PolicyModules {
		if regoOrder[i] != m.Path {
			t.Fatalf("policy module %d is %s; manifest order %v", i, m.Path, regoOrder)
		}
	}
	sid := e.f.SourceID(url, "main")
	if !dirExists(filepath.Join(e.cfg.BaseDir, "git_sources", sid)) {
		t.Fatalf("clone dir for %s missing", sid)
	}
	st := e.stats()
	if st.RepoLocks != 1 || st.Repos != 1 || st.ReposLastFetched != 1 || st.ScopesReady != 1 {
		t.Fatalf("stats after one scope: %+v", st)
	}
	code, b = e.do("GET", "/healthcheck", nil)
	if code != http.StatusOK || !strings.Contains(string(b), `"scopes_ready":1`) {
		t.Fatalf("healthcheck: HTTP %d: %s", code, b)
	}
}

func TestBadInput(t *testing.T) {
	e := startEnv(t, testConfig(t))
	cases := map[string]scopeapi.Scope{
		"traversal id":   scopeBody("../etc", "http://h/r.git"),
		"bad scheme":     scopeBody("s", "ftp://h/r.git"),
		"file forbidden": scopeBody("s", "file:///tmp/r.git"),
		"no url":         scopeBody("s", ""),
		"bad branch":     {ScopeID: "s", Policy: scopeapi.Policy{URL: "http://h/r.git", Branch: "a..b"}},
		"escaping dir":   {ScopeID: "s", Policy: scopeapi.Policy{URL: "http://h/r.git", Directories: []string{"../x"}}},
	}
	for name, sc := range cases {
		code, b := e.do("PUT", "/scopes", sc)
		if code != http.StatusUnprocessableEntity || !strings.Contains(string(b), `"error"`) {
			t.Errorf("%s: HTTP %d: %s; want 422 with an error", name, code, b)
		}
	}
	req, _ := http.NewRequest("PUT", e.api.URL+"/scopes", strings.NewReader("{not json"))
	resp, err := e.api.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad JSON: HTTP %d, want 400", resp.StatusCode)
	}
	big := `{"scope_id":"s","x":"` + strings.Repeat("a", 2<<20) + `"}`
	req, _ = http.NewRequest("PUT", e.api.URL+"/scopes", strings.NewReader(big))
	resp, err = e.api.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("big body: HTTP %d, want 413", resp.StatusCode)
	}
	if len(e.f.ListScopes()) != 0 {
		t.Fatalf("bad input stored scopes: %v", e.f.ListScopes())
	}
}

func TestToken(t *testing.T) {
	cfg := testConfig(t)
	cfg.Token = "s3cret"
	e := startEnv(t, cfg)
	resp, err := e.api.Client().Get(e.api.URL + "/healthcheck")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: HTTP %d, want 401", resp.StatusCode)
	}
	if code, b := e.do("GET", "/healthcheck", nil); code != http.StatusOK {
		t.Fatalf("with token: HTTP %d: %s", code, b)
	}
}

func TestUnknownMutant(t *testing.T) {
	_, err := New(Config{BaseDir: t.TempDir(), Mutants: []string{"no-timeout", "bogus-one"}})
	if err == nil || !strings.Contains(err.Error(), "bogus-one") {
		t.Fatalf("New with an unknown mutant: %v; want an error naming it", err)
	}
	for _, m := range Mutants() {
		if m.Doc == "" || m.Seam == "" || m.Upstream == "" || len(m.MustFail) == 0 {
			t.Errorf("mutant %s: doc %q, seam %q, upstream %q, must fail %v", m.Name, m.Doc, m.Seam, m.Upstream, m.MustFail)
		}
		if err := CheckMutants([]string{m.Name}); err != nil {
			t.Errorf("mutant %s: %v", m.Name, err)
		}
	}
}

func TestRefreshSeesNewCommit(t *testing.T) {
	srv := newGitSrv(t)
	url, head := srv.addRepo("r1", 2)
	e := startEnv(t, testConfig(t))
	e.put("s1", url)
	e.put("s2", url) // shares the source
	e.waitHash("s1", head, 10*time.Second)
	e.waitHash("s2", head, 10*time.Second)

	h2 := srv.push("r1", 3)
	if code, b := e.do("POST", "/scopes/s1/refresh", nil); code != http.StatusOK {
		t.Fatalf("refresh: HTTP %d: %s", code, b)
	}
	e.waitHash("s1", h2, 10*time.Second)

	h3 := srv.push("r1", 4)
	if code, b := e.do("POST", "/scopes/refresh", nil); code != http.StatusOK {
		t.Fatalf("refresh all: HTTP %d: %s", code, b)
	}
	e.waitHash("s1", h3, 10*time.Second)
	e.waitHash("s2", h3, 10*time.Second)

	// a hinted hash that is already present does not fetch
	packs := srv.stat(srv.packs, "r1")
	if code, _ := e.do("POST", "/scopes/s1/refresh?hinted_hash="+h3, nil); code != http.StatusOK {
		t.Fatalf("hinted refresh: HTTP %d", code)
	}
	waitFor(t, 5*time.Second, "hinted refresh task done", func() (bool, string) {
		n := e.stats().WebhookTasks
		return n == 0, "webhook_tasks " + itoa(n)
	})
	if got := srv.stat(srv.packs, "r1"); got != packs {
		t.Fatalf("hinted refresh of a present commit fetched: upload-packs %d -> %d", packs, got)
	}
	if code, _ := e.do("POST", "/scopes/nope/refresh", nil); code != http.StatusNotFound {
		t.Fatalf("refresh unknown: HTTP %d, want 404", code)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// settle waits until no git operation or task runs.
func (e *env) settle() {
	e.t.Helper()
	waitFor(e.t, 10*time.Second, "fetcher settles", func() (bool, string) {
		s := e.stats()
		return s.InFlight == 0 && s.WebhookTasks == 0, "in_flight " + itoa(int(s.InFlight)) + " webhook_tasks " + itoa(s.WebhookTasks)
	})
}

func TestDeletePurgesEverything(t *testing.T) {
	srv := newGitSrv(t)
	u1, h1 := srv.addRepo("r1", 5)
	u2, h2 := srv.addRepo("r2", 6)
	e := startEnv(t, testConfig(t))
	e.put("a", u1)
	e.put("b", u1)
	e.put("c", u2)
	for id, h := range map[string]string{"a": h1, "b": h1, "c": h2} {
		e.waitHash(id, h, 10*time.Second)
	}
	if n := baseDirFDs(t, e.cfg.BaseDir); n == 0 {
		t.Fatalf("no descriptors open under the base dir after sync: KeepDescriptors not in effect")
	}
	dir1 := filepath.Join(e.cfg.BaseDir, "git_sources", e.f.SourceID(u1, "main"))
	if code, _ := e.do("DELETE", "/scopes/a", nil); code != http.StatusNoContent {
		t.Fatalf("DELETE a: HTTP %d", code)
	}
	if !dirExists(dir1) {
		t.Fatalf("deleting a removed the clone b still uses")
	}
	// each scope tracks its commit on its own local branch in the shared clone
	if _, err := os.Stat(filepath.Join(dir1, "refs/heads/scopes/a")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("deleted scope a's local branch: %v; want it removed", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir1, "refs/heads/scopes/b")); err != nil || strings.TrimSpace(string(b)) != h1 {
		t.Fatalf("scope b's local branch: %q, %v; want %s", b, err, h1)
	}
	e.waitHash("b", h1, 5*time.Second)
	for _, id := range []string{"b", "c"} {
		if code, _ := e.do("DELETE", "/scopes/"+id, nil); code != http.StatusNoContent {
			t.Fatalf("DELETE %s: HTTP %d", id, code)
		}
	}
	if code, _ := e.do("DELETE", "/scopes/c", nil); code != http.StatusNotFound {
		t.Fatalf("DELETE twice: HTTP %d, want 404", code)
	}
	e.settle()
	waitFor(t, 2*time.Second, "caches empty after deleting every scope", func() (bool, string) {
		st := e.stats()
		return st.RepoLocks+st.Repos+st.ReposLastFetched+st.Bundles+st.ScopesTotal == 0, fmt.Sprintf("%+v", st)
	})
	ents, _ := os.ReadDir(filepath.Join(e.cfg.BaseDir, "git_sources"))
	if len(ents) != 0 {
		t.Fatalf("clone dirs left: %v", ents)
	}
	if n := baseDirFDs(t, e.cfg.BaseDir); n != 0 {
		t.Fatalf("%d descriptors still open under the base dir after deleting every scope", n)
	}
}

func TestRestartReloadsScopesAndReclonesHalfWritten(t *testing.T) {
	srv := newGitSrv(t)
	u1, h1 := srv.addRepo("r1", 7)
	u2, h2 := srv.addRepo("r2", 8)
	cfg := testConfig(t)
	e := startEnv(t, cfg)
	e.put("a", u1)
	e.put("b", u2)
	e.waitHash("a", h1, 10*time.Second)
	e.waitHash("b", h2, 10*time.Second)
	e.close()

	// simulate a crash mid-clone of b's source: the completion marker is gone
	dir2 := filepath.Join(cfg.BaseDir, "git_sources", sourceID(u2, "main", 1))
	if err := os.Remove(filepath.Join(dir2, cloneMarker)); err != nil {
		t.Fatal(err)
	}
	packsBefore := srv.stat(srv.packs, "r2")

	e2 := startEnv(t, cfg)
	if got := len(e2.f.ListScopes()); got != 2 {
		t.Fatalf("after restart %d scopes, want 2", got)
	}
	e2.waitHash("a", h1, 10*time.Second)
	e2.waitHash("b", h2, 10*time.Second)
	if _, err := os.Stat(filepath.Join(dir2, cloneMarker)); err != nil {
		t.Fatalf("half-written clone not cloned again: %v", err)
	}
	if srv.stat(srv.packs, "r2") <= packsBefore {
		t.Fatalf("no clone of r2 after restart")
	}
	waitFor(t, 5*time.Second, "boot done", func() (bool, string) {
		return !e2.f.Booting(), "booting"
	})
	code, b := e2.do("GET", "/healthcheck", nil)
	if code != http.StatusOK || !strings.Contains(string(b), `"scopes_ready":2`) {
		t.Fatalf("healthcheck after boot: HTTP %d: %s", code, b)
	}
}

func TestStoreSurvivesTornWrite(t *testing.T) {
	dir := t.TempDir()
	st, err := openScopeStore(dir, testConfig(t).Logger)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.put(scopeBody("keep", "http://h/r.git")); err != nil {
		t.Fatal(err)
	}
	// a torn write: a temp file left behind and a truncated scope file
	os.WriteFile(filepath.Join(dir, ".tmp-x-123"), []byte(`{"scope_id":`), 0o644)
	os.WriteFile(filepath.Join(dir, "torn.json"), []byte(`{"scope_id":"to`), 0o644)
	got, err := st.loadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ScopeID != "keep" {
		t.Fatalf("loaded %v, want only keep", got)
	}
	ents, _ := os.ReadDir(dir)
	if slices.ContainsFunc(ents, func(e os.DirEntry) bool { return strings.HasPrefix(e.Name(), ".tmp-") }) {
		t.Fatalf("temp file not cleaned: %v", ents)
	}
}

func TestSourceIDAndShards(t *testing.T) {
	a := sourceID("http://h/r.git", "main", 1)
	if !strings.HasSuffix(a, "-0") || len(a) != 64+2 {
		t.Fatalf("source id %q", a)
	}
	seen := map[string]bool{}
	for _, b := range []string{"main", "dev", "x", "y", "z", "w"} {
		seen[sourceID("http://h/r.git", b, 4)] = true
	}
	if len(seen) < 2 {
		t.Fatalf("shards=4 maps 6 branches onto %d source ids", len(seen))
	}
	_ = context.Background
}

func TestShardsForcePushAndPoll(t *testing.T) {
	srv := newGitSrv(t)
	url, head := srv.addRepo("r", 140)
	repoDir := filepath.Join(srv.root, "r.git")
	var devBranch string
	// pick a branch name that lands on another shard than main
	for _, b := range []string{"dev", "dev1", "dev2", "dev3", "dev4", "dev5", "dev6", "dev7"} {
		if sourceID(url, b, 4) != sourceID(url, "main", 4) {
			devBranch = b
			break
		}
	}
	devHead, err := repogen.AddBranch(repoDir, devBranch, "main")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.Shards = 4
	cfg.PollInterval = 100 * time.Millisecond
	e := startEnv(t, cfg)
	e.put("m", url)
	dev := scopeBody("d", url)
	dev.Policy.Branch = devBranch
	dev.Policy.PollUpdates = true
	if code, b := e.do("PUT", "/scopes", dev); code != http.StatusCreated {
		t.Fatalf("PUT d: HTTP %d: %s", code, b)
	}
	e.waitHash("m", head, 10*time.Second)
	e.waitHash("d", devHead, 10*time.Second)
	if s := e.stats(); s.Repos != 2 || s.Sources != 2 {
		t.Fatalf("two shards of one url: %+v; want 2 clones", s)
	}
	// polling picks up a force-pushed (rewritten) history of the polled scope
	res, err := repogen.RewriteHistory(repoDir, devBranch, 141)
	if err != nil {
		t.Fatal(err)
	}
	e.waitHash("d", res.Head, 10*time.Second)
	if st := e.status("m"); st.Head != head {
		t.Fatalf("unpolled scope m moved to %s", st.Head)
	}
	// deleting one shard's scope keeps the other's clone
	if code, _ := e.do("DELETE", "/scopes/d", nil); code != http.StatusNoContent {
		t.Fatalf("DELETE d: HTTP %d", code)
	}
	e.waitHash("m", head, time.Second)
	if s := e.stats(); s.Repos != 1 || s.RepoLocks != 1 {
		t.Fatalf("after deleting one shard's scope: %+v", s)
	}
}

// TestRepeatedFetchesStayFlat: every fetch that brings objects adds a pack;
// compaction keeps one pack per clone, so descriptors stay flat.
func TestRepeatedFetchesStayFlat(t *testing.T) {
	srv := newGitSrv(t)
	url, head := srv.addRepo("r", 150)
	e := startEnv(t, testConfig(t))
	e.put("a", url)
	e.waitHash("a", head, 10*time.Second)
	packDir := filepath.Join(e.cfg.BaseDir, "git_sources", e.f.SourceID(url, "main"), "objects", "pack")
	var fds []int
	for i := range 6 {
		h := srv.push("r", int64(151+i))
		e.f.syncAll(context.Background(), time.Now(), nil)
		if got := e.status("a").Head; got != h {
			t.Fatalf("round %d: head %s, want %s", i, got, h)
		}
		packs, _ := filepath.Glob(filepath.Join(packDir, "*.pack"))
		if len(packs) != 1 {
			t.Fatalf("round %d: %d packs, want 1 after compaction", i, len(packs))
		}
		fds = append(fds, baseDirFDs(t, e.cfg.BaseDir))
	}
	if slices.Max(fds) != slices.Min(fds) {
		t.Fatalf("descriptors under the base dir across 6 fetch rounds: %v; want flat", fds)
	}
	if b, code := e.policy("a"); code != http.StatusOK || b.Hash != e.status("a").Head {
		t.Fatalf("bundle after compaction: HTTP %d hash %s", code, b.Hash)
	}
}
