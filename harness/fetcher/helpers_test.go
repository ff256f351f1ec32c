package fetcher

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gitchaos/gitchaos/fixtures/repogen"
	"github.com/gitchaos/gitchaos/harness/eventually/eventuallytest"
	"github.com/gitchaos/gitchaos/harness/scopeapi"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// gitSrv is a real smart-HTTP git server (git http-backend over CGI) over
// bare repos made by repogen, with per-repo faults: hang (until released
// or the client goes away), fail with 500 a number of times, delay.
type gitSrv struct {
	t    *testing.T
	root string
	srv  *httptest.Server
	cgi  *cgi.Handler

	mu        sync.Mutex
	hang      map[string]chan struct{} // repo -> closed on release
	fail500   map[string]int
	delay     time.Duration
	active    map[string]int
	maxActive map[string]int
	allActive int
	maxAll    int
	packs     map[string]int // upload-pack POSTs per repo
	refs      map[string]int // ref advertisements (one per clone or fetch) per repo
	canceled  map[string]int // hung requests the client gave up on
}

func newGitSrv(t *testing.T) *gitSrv {
	t.Helper()
	gitPath, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git not installed")
	}
	s := &gitSrv{
		t: t, root: t.TempDir(),
		hang: map[string]chan struct{}{}, fail500: map[string]int{},
		active: map[string]int{}, maxActive: map[string]int{}, packs: map[string]int{}, refs: map[string]int{}, canceled: map[string]int{},
	}
	s.cgi = &cgi.Handler{
		Path: gitPath,
		Args: []string{"http-backend"},
		Env:  []string{"GIT_PROJECT_ROOT=" + s.root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.releaseAll()
		s.srv.CloseClientConnections()
		s.srv.Close()
	})
	return s
}

func repoOf(path string) string {
	p := strings.TrimPrefix(path, "/")
	if i := strings.Index(p, ".git"); i >= 0 {
		return p[:i]
	}
	return p
}

func (s *gitSrv) serve(w http.ResponseWriter, r *http.Request) {
	repo := repoOf(r.URL.Path)
	s.mu.Lock()
	s.active[repo]++
	s.allActive++
	s.maxActive[repo] = max(s.maxActive[repo], s.active[repo])
	s.maxAll = max(s.maxAll, s.allActive)
	if strings.HasSuffix(r.URL.Path, "/git-upload-pack") {
		s.packs[repo]++
	}
	if strings.HasSuffix(r.URL.Path, "/info/refs") {
		s.refs[repo]++
	}
	hang := s.hang[repo]
	fail := s.fail500[repo] > 0
	if fail {
		s.fail500[repo]--
	}
	delay := s.delay
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.active[repo]--
		s.allActive--
		s.mu.Unlock()
	}()
	if hang != nil {
		select {
		case <-hang:
		case <-r.Context().Done():
			s.mu.Lock()
			s.canceled[repo]++
			s.mu.Unlock()
			return
		}
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if fail {
		http.Error(w, "injected failure", http.StatusInternalServerError)
		return
	}
	s.cgi.ServeHTTP(w, r)
}

// addRepo makes a bare repo and returns its URL and head.
func (s *gitSrv) addRepo(name string, seed int64) (string, string) {
	s.t.Helper()
	res, err := repogen.Generate(filepath.Join(s.root, name+".git"), seed, repogen.DefaultSpec())
	if err != nil {
		s.t.Fatalf("generate %s: %v", name, err)
	}
	return s.url(name), res.Head
}

func (s *gitSrv) url(name string) string { return s.srv.URL + "/" + name + ".git" }

// push appends a commit to name's main branch and returns the new head.
func (s *gitSrv) push(name string, seed int64) string {
	s.t.Helper()
	h, err := repogen.AppendCommit(filepath.Join(s.root, name+".git"), "main", seed, nil, "push")
	if err != nil {
		s.t.Fatalf("append commit to %s: %v", name, err)
	}
	return h
}

// setHang makes requests for name hang until the returned release is called.
func (s *gitSrv) setHang(name string) (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan struct{})
	s.hang[name] = ch
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.hang[name] == ch {
				delete(s.hang, name)
			}
			s.mu.Unlock()
			close(ch)
		})
	}
}

func (s *gitSrv) releaseAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for n, ch := range s.hang {
		close(ch)
		delete(s.hang, n)
	}
}

func (s *gitSrv) setFail500(name string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail500[name] = n
}

func (s *gitSrv) setDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

func (s *gitSrv) stat(m map[string]int, name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return m[name]
}

// env is a fetcher under test with its API on an httptest server.
type env struct {
	t   *testing.T
	f   *Fetcher
	cfg Config
	api *httptest.Server
}

func testConfig(t *testing.T, mutants ...string) Config {
	return Config{
		BaseDir:        t.TempDir(),
		MaxWorkers:     4,
		GitTimeout:     5 * time.Second,
		BreakerBackoff: time.Second,
		Mutants:        mutants,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func startEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	f, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := f.Boot(context.Background()); err != nil {
		t.Fatalf("Boot: %v", err)
	}
	e := &env{t: t, f: f, cfg: cfg, api: httptest.NewServer(f.Handler())}
	t.Cleanup(e.close)
	// tests drive syncs themselves: let the boot sync finish first
	waitFor(t, 30*time.Second, "boot finishes", func() (bool, string) { return !f.Booting(), "booting" })
	return e
}

func (e *env) close() {
	if e.api != nil {
		e.api.Close()
		e.api = nil
	}
	if e.f != nil {
		if err := e.f.Close(); err != nil {
			e.t.Errorf("Close: %v", err)
		}
		e.f = nil
	}
}

func (e *env) do(method, path string, body any) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.api.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if e.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+e.cfg.Token)
	}
	resp, err := e.api.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func scopeBody(id, url string) scopeapi.Scope {
	return scopeapi.Scope{ScopeID: id, Policy: scopeapi.Policy{SourceType: "git", URL: url, Branch: "main"}}
}

func (e *env) put(id, url string) {
	e.t.Helper()
	if code, b := e.do("PUT", "/scopes", scopeBody(id, url)); code != http.StatusCreated {
		e.t.Fatalf("PUT /scopes %s: HTTP %d: %s", id, code, b)
	}
}

func (e *env) stats() Stats {
	e.t.Helper()
	code, b := e.do("GET", "/internal/git-fetcher-cache-stats", nil)
	if code != http.StatusOK {
		e.t.Fatalf("stats: HTTP %d: %s", code, b)
	}
	var s Stats
	if err := json.Unmarshal(b, &s); err != nil {
		e.t.Fatalf("stats: %v: %s", err, b)
	}
	return s
}

// policyHash returns the bundle hash, or "" with the HTTP status.
func (e *env) policy(id string) (Bundle, int) {
	e.t.Helper()
	code, b := e.do("GET", "/scopes/"+id+"/policy", nil)
	var bd Bundle
	if code == http.StatusOK {
		if err := json.Unmarshal(b, &bd); err != nil {
			e.t.Fatalf("policy %s: %v", id, err)
		}
	}
	return bd, code
}

// waitFor polls cond until it returns true or d passes; on timeout it
// fails with what cond last described.
func waitFor(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	eventuallytest.Require(t, d, what, func() (bool, any) { ok, desc := cond(); return ok, desc })
}

func (e *env) waitHash(id, want string, d time.Duration) {
	e.t.Helper()
	waitFor(e.t, d, "scope "+id+" on "+want, func() (bool, string) {
		b, code := e.policy(id)
		return code == http.StatusOK && b.Hash == want, fmt.Sprintf("HTTP %d hash %q", code, b.Hash)
	})
}

func (e *env) status(id string) ScopeStatus {
	st, _ := e.f.ScopeStatus(id)
	return st
}

// baseDirFDs counts this process's descriptors open on files under dir
// (deleted files included).
func baseDirFDs(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	n := 0
	for _, e := range ents {
		l, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err == nil && strings.HasPrefix(l, dir) {
			n++
		}
	}
	return n
}

// serving starts a git server with one repo "r" (generated from seed)
// and a fetcher with mutant ("" for the correct one), puts each of ids
// on r and waits until every one serves r's head.
func serving(t *testing.T, mutant string, seed int64, ids ...string) (srv *gitSrv, e *env, url, head string) {
	t.Helper()
	srv = newGitSrv(t)
	e = startEnv(t, testConfig(t, mutant))
	url, head = srv.addRepo("r", seed)
	for _, id := range ids {
		e.put(id, url)
	}
	for _, id := range ids {
		e.waitHash(id, head, 10*time.Second)
	}
	return srv, e, url, head
}
