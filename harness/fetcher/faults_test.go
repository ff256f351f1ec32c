package fetcher

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// add registers a scope without starting its sync (the test drives it).
func (e *env) add(id, url string) {
	e.t.Helper()
	if _, err := e.f.addScopeLocked(scopeBody(id, url)); err != nil {
		e.t.Fatalf("add %s: %v", id, err)
	}
}

// stays checks cond holds for the whole of d (sampled); it fails at the
// first sample where it does not.
func stays(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if ok, desc := cond(); !ok {
			t.Fatalf("%s stopped holding: %s", what, desc)
		}
		time.Sleep(20 * time.Millisecond) // sampling period: cond must hold throughout d, nothing is awaited
	}
}

func TestTimeoutCancelsHungClone(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv := newGitSrv(t)
	url, _ := srv.addRepo("hung", 11)
	srv.setHang("hung")
	cfg := testConfig(t)
	cfg.GitTimeout = timeout
	e := startEnv(t, cfg)
	e.add("s", url)
	start := time.Now()
	err := e.f.syncScope(context.Background(), "s", syncOpts{})
	took := time.Since(start)
	if !errors.Is(err, errTimeout) {
		t.Fatalf("sync of a hung clone: %v; want a timeout", err)
	}
	if took < timeout || took > timeout+100*time.Millisecond {
		t.Fatalf("hung clone returned after %v; want within [%v, %v]", took, timeout, timeout+100*time.Millisecond)
	}
	waitFor(t, time.Second, "the server sees the hung request canceled", func() (bool, string) {
		n := srv.stat(srv.canceled, "hung")
		return n >= 1, fmt.Sprintf("canceled %d", n)
	})
	if s := e.stats(); s.InFlight != 0 {
		t.Fatalf("in_flight %d after the timeout", s.InFlight)
	}
	if dir := filepath.Join(cfg.BaseDir, "git_sources", e.f.SourceID(url, "main")); dirExists(dir) {
		t.Fatalf("partial clone dir %s left after the timeout", dir)
	}
	if ents, _ := os.ReadDir(e.f.stagingDir()); len(ents) != 0 {
		t.Fatalf("staged partial clone left after the timeout: %v", ents)
	}
	if st := e.status("s"); st.Status != statusFailed || !strings.Contains(st.Reason, "timed out") {
		t.Fatalf("scope status %+v; want failed with the timeout", st)
	}
}

func TestMutantSoftTimeoutKeepsOperation(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv := newGitSrv(t)
	url, _ := srv.addRepo("hung", 12)
	release := srv.setHang("hung")
	cfg := testConfig(t, "soft-timeout")
	cfg.GitTimeout = timeout
	e := startEnv(t, cfg)
	e.add("s", url)
	start := time.Now()
	err := e.f.syncScope(context.Background(), "s", syncOpts{})
	if took := time.Since(start); !errors.Is(err, errTimeout) || took > timeout+200*time.Millisecond {
		t.Fatalf("soft timeout: %v after %v; want a timeout at about %v", err, took, timeout)
	}
	stays(t, 3*timeout, "the abandoned clone keeps running", func() (bool, string) {
		s := e.stats()
		c := srv.stat(srv.canceled, "hung")
		return s.InFlight == 1 && c == 0, fmt.Sprintf("in_flight %d, server-side cancels %d", s.InFlight, c)
	})
	release()
	e.settle()
}

func TestMutantNoTimeoutHangs(t *testing.T) {
	const timeout = 200 * time.Millisecond
	srv := newGitSrv(t)
	url, _ := srv.addRepo("hung", 13)
	srv.setHang("hung")
	cfg := testConfig(t, "no-timeout")
	cfg.GitTimeout = timeout
	e := startEnv(t, cfg)
	e.add("s", url)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.f.syncScope(ctx, "s", syncOpts{}) }()
	select {
	case err := <-done:
		cancel()
		t.Fatalf("no-timeout: the hung clone returned (%v); it should hang", err)
	case <-time.After(5 * timeout):
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatalf("canceled hung clone succeeded")
	}
}

func TestSingleFlight(t *testing.T) {
	srv := newGitSrv(t)
	url, head := srv.addRepo("r", 14)
	cfg := testConfig(t)
	cfg.HostCap = 4 // the host bulkhead alone would serialize them
	e := startEnv(t, cfg)
	e.put("a", url)
	e.waitHash("a", head, 10*time.Second)
	e.put("b", url)
	e.waitHash("b", head, 10*time.Second)
	e.settle()
	h2 := srv.push("r", 15)
	req := time.Now() // both requests came before either fetch started
	release := srv.setHang("r")
	refs := srv.stat(srv.refs, "r")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for _, id := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = e.f.syncScope(ctx, id, syncOpts{force: true, reqTime: req})
		}()
	}
	waitFor(t, 5*time.Second, "a fetch reaches the server", func() (bool, string) {
		n := srv.stat(srv.active, "r")
		return n >= 1, fmt.Sprintf("active %d", n)
	})
	stays(t, 300*time.Millisecond, "one operation per source", func() (bool, string) {
		n := srv.stat(srv.maxActive, "r")
		return n == 1, fmt.Sprintf("max concurrent requests %d", n)
	})
	release()
	wg.Wait()
	if n := e.stats().SourceOpsMax; n != 1 {
		t.Fatalf("source_ops_max %d; want 1", n)
	}
	e.waitHash("a", h2, 5*time.Second)
	e.waitHash("b", h2, 5*time.Second)
	if n := srv.stat(srv.refs, "r") - refs; n != 1 {
		t.Fatalf("two forced syncs of one source made %d fetches; want 1 (the second waits and reads)", n)
	}
}

// TestHostBulkhead: with every worker's worth of clones hung on one host, a
// clone on another host is not delayed; upstream's single FIFO pool
// (no-host-bulkhead) queues it behind the hung ones.
func TestHostBulkhead(t *testing.T) {
	const timeout = 2 * time.Second
	for _, mutant := range []string{"", "no-host-bulkhead"} {
		t.Run("mutant="+mutant, func(t *testing.T) {
			dead, healthy := newGitSrv(t), newGitSrv(t)
			cfg := testConfig(t, mutant)
			cfg.GitTimeout = timeout
			cfg.BreakerThreshold = 100 // the bulkhead alone
			e := startEnv(t, cfg)
			for i := range 8 {
				name := fmt.Sprintf("h%d", i)
				u, _ := dead.addRepo(name, int64(20+i))
				dead.setHang(name)
				e.put("dead"+name, u)
			}
			waitFor(t, 5*time.Second, "hung clones reach the dead host", func() (bool, string) {
				dead.mu.Lock()
				n := dead.allActive
				dead.mu.Unlock()
				return n >= 1, fmt.Sprintf("active %d", n)
			})
			u, head := healthy.addRepo("ok", 30)
			start := time.Now()
			e.put("healthy", u)
			e.waitHash("healthy", head, 10*time.Second)
			took := time.Since(start)
			t.Logf("healthy scope ready after %v with 8 clones hung on another host", took)
			if mutant == "" && took >= timeout {
				t.Fatalf("healthy scope took %v behind a dead host; want < the timeout %v (typically ~50 ms)", took, timeout)
			}
			if mutant != "" && took < timeout {
				t.Fatalf("no-host-bulkhead: healthy scope took only %v; want >= one timeout (%v) queued behind hung clones", took, timeout)
			}
		})
	}
}

func TestBreakerFailsFastAndRecovers(t *testing.T) {
	// Long enough for the clones after the release under -race on a loaded
	// box (see TestMutantTrustPartialClone).
	const timeout = time.Second
	srv := newGitSrv(t)
	cfg := testConfig(t)
	cfg.GitTimeout = timeout
	cfg.BreakerThreshold = 2
	cfg.BreakerBackoff = 500 * time.Millisecond
	e := startEnv(t, cfg)
	var releases []func()
	for i := range 3 {
		name := fmt.Sprintf("r%d", i)
		u, _ := srv.addRepo(name, int64(40+i))
		releases = append(releases, srv.setHang(name))
		e.add(name, u)
	}
	for _, id := range []string{"r0", "r1"} {
		if err := e.f.syncScope(context.Background(), id, syncOpts{}); !errors.Is(err, errTimeout) {
			t.Fatalf("%s: %v; want a timeout", id, err)
		}
	}
	start := time.Now()
	err := e.f.syncScope(context.Background(), "r2", syncOpts{})
	var oc *openCircuitError
	if !errors.As(err, &oc) || time.Since(start) > 50*time.Millisecond {
		t.Fatalf("third op after 2 timeouts: %v after %v; want an open circuit at once", err, time.Since(start))
	}
	for _, r := range releases {
		r()
	}
	waitFor(t, 5*time.Second, "the half-open probe succeeds and closes the circuit", func() (bool, string) {
		err := e.f.syncScope(context.Background(), "r2", syncOpts{})
		return err == nil, fmt.Sprint(err)
	})
	if err := e.f.syncScope(context.Background(), "r0", syncOpts{}); err != nil {
		t.Fatalf("after the circuit closed: %v", err)
	}
}

func TestConnectionRefusedFailsFast(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := testConfig(t)
	cfg.BreakerThreshold = 2
	e := startEnv(t, cfg)
	e.add("s", "http://"+addr+"/r.git")
	for i := range 4 {
		start := time.Now()
		err = e.f.syncScope(context.Background(), "s", syncOpts{})
		if err == nil || time.Since(start) > time.Second {
			t.Fatalf("refused host, try %d: %v after %v; want an error at once", i, err, time.Since(start))
		}
		// refused connections fail fast by themselves and never open the
		// circuit, so the first sync after the host is back succeeds
		var oc *openCircuitError
		if !errors.Is(err, errConnFailure) || errors.As(err, &oc) {
			t.Fatalf("refused host, try %d: %v; want a connection failure, circuit closed", i, err)
		}
	}
}

// TestDeleteDuringHang: delete cancels the hung clone and returns at once;
// delete-waits blocks until the timeout; resurrect-on-delete lets the clone
// finish afterwards and put its caches back.
func TestDeleteDuringHang(t *testing.T) {
	const timeout = 1500 * time.Millisecond
	for _, mutant := range []string{"", "delete-waits", "resurrect-on-delete"} {
		t.Run("mutant="+mutant, func(t *testing.T) {
			srv := newGitSrv(t)
			url, _ := srv.addRepo("r", 50)
			release := srv.setHang("r")
			cfg := testConfig(t, mutant)
			cfg.GitTimeout = timeout
			e := startEnv(t, cfg)
			e.put("s", url)
			waitFor(t, 5*time.Second, "the clone hangs on the server", func() (bool, string) {
				n := srv.stat(srv.active, "r")
				return n >= 1, fmt.Sprintf("active %d", n)
			})
			start := time.Now()
			if code, b := e.do("DELETE", "/scopes/s", nil); code != http.StatusNoContent {
				t.Fatalf("DELETE: HTTP %d: %s", code, b)
			}
			took := time.Since(start)
			t.Logf("DELETE during a hung clone took %v", took)
			switch mutant {
			case "":
				if took > timeout/3 {
					t.Fatalf("DELETE took %v; want well under the timeout %v", took, timeout)
				}
			case "delete-waits":
				if took < timeout*9/10 {
					t.Fatalf("delete-waits: DELETE took %v; want about the timeout %v", took, timeout)
				}
			}
			release() // the server would now answer the clone
			dir := filepath.Join(cfg.BaseDir, "git_sources", e.f.SourceID(url, "main"))
			if mutant == "resurrect-on-delete" {
				waitFor(t, 5*time.Second, "the late clone resurrects the caches", func() (bool, string) {
					s := e.stats()
					return s.Repos == 1 && dirExists(dir), fmt.Sprintf("repos %d, dir %v", s.Repos, dirExists(dir))
				})
				return
			}
			e.settle()
			waitFor(t, 2*time.Second, "caches and clone dir drain after delete during a hang", func() (bool, string) {
				s := e.stats()
				return s.Repos+s.RepoLocks+s.ReposLastFetched == 0 && !dirExists(dir),
					fmt.Sprintf("repos %d locks %d last_fetched %d dir %v", s.Repos, s.RepoLocks, s.ReposLastFetched, dirExists(dir))
			})
		})
	}
}

func TestMutantsOnDeletePath(t *testing.T) {
	for _, mutant := range []string{"", "no-purge-on-delete", "fd-leak-on-delete"} {
		t.Run("mutant="+mutant, func(t *testing.T) {
			srv := newGitSrv(t)
			e := startEnv(t, testConfig(t, mutant))
			for i := range 3 {
				u, h := srv.addRepo(fmt.Sprintf("r%d", i), int64(60+i))
				id := fmt.Sprintf("s%d", i)
				e.put(id, u)
				e.waitHash(id, h, 10*time.Second)
			}
			for i := range 3 {
				if code, _ := e.do("DELETE", fmt.Sprintf("/scopes/s%d", i), nil); code != http.StatusNoContent {
					t.Fatalf("DELETE: HTTP %d", code)
				}
			}
			e.settle()
			if mutant == "" {
				waitFor(t, 2*time.Second, "caches drain", func() (bool, string) {
					s := e.stats()
					return s.Repos+s.RepoLocks+s.ReposLastFetched == 0, fmt.Sprintf("%+v", s)
				})
			}
			s := e.stats()
			fds := baseDirFDs(t, e.cfg.BaseDir)
			cached := s.Repos + s.RepoLocks + s.ReposLastFetched
			t.Logf("after deleting 3 scopes: repos %d locks %d last_fetched %d, fds under base dir %d", s.Repos, s.RepoLocks, s.ReposLastFetched, fds)
			switch mutant {
			case "":
				if cached != 0 || fds != 0 {
					t.Fatalf("correct delete left caches %d, fds %d", cached, fds)
				}
			case "no-purge-on-delete":
				if s.Repos != 3 || s.RepoLocks != 3 || s.ReposLastFetched != 3 {
					t.Fatalf("no-purge-on-delete: caches %+v; want 3 entries each", s)
				}
			case "fd-leak-on-delete":
				if cached != 0 || fds < 3 {
					t.Fatalf("fd-leak-on-delete: caches %d (want 0), fds %d (want >= 3)", cached, fds)
				}
			}
		})
	}
}

func TestMutantStampBeforeFetch(t *testing.T) {
	for _, mutant := range []string{"", "stamp-before-fetch"} {
		t.Run("mutant="+mutant, func(t *testing.T) {
			srv := newGitSrv(t)
			url, head := srv.addRepo("r", 70)
			e := startEnv(t, testConfig(t, mutant))
			e.put("a", url)
			e.put("b", url)
			e.waitHash("a", head, 10*time.Second)
			e.waitHash("b", head, 10*time.Second)
			e.settle()
			h2 := srv.push("r", 71)
			srv.setFail500("r", 1) // the first git request of the refresh fails
			e.f.syncAll(context.Background(), time.Now(), nil)
			ha, hb := e.status("a").Head, e.status("b").Head
			if mutant == "" && (ha != h2 || hb != h2) {
				t.Fatalf("after one refresh with a failing first fetch: a %s b %s; want both %s", ha, hb, h2)
			}
			if mutant != "" && (ha == h2 || hb == h2) {
				t.Fatalf("stamp-before-fetch: a %s b %s reached %s; the failed fetch should suppress the retry", ha, hb, h2)
			}
		})
	}
}

func TestMutantNoFetchDedupe(t *testing.T) {
	for _, mutant := range []string{"", "no-fetch-dedupe"} {
		t.Run("mutant="+mutant, func(t *testing.T) {
			srv := newGitSrv(t)
			url, head := srv.addRepo("r", 90)
			cfg := testConfig(t, mutant)
			e := startEnv(t, cfg)
			for _, id := range []string{"a", "b", "c"} {
				e.put(id, url)
			}
			for _, id := range []string{"a", "b", "c"} {
				e.waitHash(id, head, 10*time.Second)
			}
			e.settle()
			before := srv.stat(srv.refs, "r")
			e.f.syncAll(context.Background(), time.Now(), nil)
			n := srv.stat(srv.refs, "r") - before
			if mutant == "" && n != 1 {
				t.Fatalf("sync of 3 scopes sharing a source made %d fetches; want 1", n)
			}
			if mutant != "" && n != 3 {
				t.Fatalf("no-fetch-dedupe: %d fetches; want 3", n)
			}
		})
	}
}

func TestMutantSerialSync(t *testing.T) {
	for _, mutant := range []string{"", "serial-sync"} {
		t.Run("mutant="+mutant, func(t *testing.T) {
			srv := newGitSrv(t)
			srv.setDelay(100 * time.Millisecond)
			cfg := testConfig(t, mutant)
			cfg.HostCap = 4
			e := startEnv(t, cfg)
			for i := range 6 {
				u, _ := srv.addRepo(fmt.Sprintf("r%d", i), int64(100+i))
				e.add(fmt.Sprintf("s%d", i), u)
			}
			start := time.Now()
			e.f.syncAll(context.Background(), time.Now(), nil)
			srv.mu.Lock()
			maxAll := srv.maxAll
			srv.mu.Unlock()
			s := e.stats()
			t.Logf("sync of 6 scopes: %v, max concurrent git requests %d, ready %d", time.Since(start), maxAll, s.ScopesReady)
			if s.ScopesReady != 6 {
				t.Fatalf("ready %d of 6", s.ScopesReady)
			}
			if mutant == "" && maxAll < 2 {
				t.Fatalf("sync ran one git request at a time")
			}
			if mutant != "" && maxAll != 1 {
				t.Fatalf("serial-sync: %d git requests at once; want 1", maxAll)
			}
		})
	}
}

func TestMutantReopenPerSync(t *testing.T) {
	for _, mutant := range []string{"", "reopen-per-sync"} {
		t.Run("mutant="+mutant, func(t *testing.T) {
			srv := newGitSrv(t)
			url, head := srv.addRepo("r", 110)
			e := startEnv(t, testConfig(t, mutant))
			e.put("a", url)
			e.waitHash("a", head, 10*time.Second)
			e.settle()
			before := baseDirFDs(t, e.cfg.BaseDir)
			for range 5 {
				e.f.syncAll(context.Background(), time.Now(), nil)
			}
			grew := baseDirFDs(t, e.cfg.BaseDir) - before
			t.Logf("fds under the base dir grew by %d over 5 syncs", grew)
			if mutant == "" && grew != 0 {
				t.Fatalf("5 syncs grew fds by %d; want 0", grew)
			}
			if mutant != "" && grew < 4 {
				t.Fatalf("reopen-per-sync: fds grew by %d over 5 syncs; want >= 4", grew)
			}
		})
	}
}

func TestMutantSharedPool(t *testing.T) {
	for _, mutant := range []string{"", "shared-pool"} {
		t.Run("mutant="+mutant, func(t *testing.T) {
			srv := newGitSrv(t)
			cfg := testConfig(t, mutant)
			cfg.MaxWorkers = 2
			cfg.HostCap = 2
			e := startEnv(t, cfg)
			u, head := srv.addRepo("ok", 120)
			e.put("ok", u)
			e.waitHash("ok", head, 10*time.Second)
			for i := range 2 {
				name := fmt.Sprintf("h%d", i)
				hu, _ := srv.addRepo(name, int64(121+i))
				srv.setHang(name)
				e.put(name, hu)
			}
			waitFor(t, 5*time.Second, "both workers hung", func() (bool, string) {
				n := e.stats().InFlight
				return n == 2, fmt.Sprintf("in_flight %d", n)
			})
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			b, err := e.f.Policy(ctx, "ok")
			if mutant == "" && (err != nil || b.Hash != head) {
				t.Fatalf("bundle while the git pool is hung: %v", err)
			}
			if mutant != "" && err == nil {
				t.Fatalf("shared-pool: bundle served while every worker is hung; want it blocked")
			}
		})
	}
}

func TestMutantTrustPartialClone(t *testing.T) {
	// The hung clone waits the whole timeout; the one after the release
	// must finish a 130-commit clone inside it under -race on a loaded
	// 2-core box (300 ms did not, in CI).
	const timeout = 2 * time.Second
	for _, mutant := range []string{"", "trust-partial-clone"} {
		t.Run("mutant="+mutant, func(t *testing.T) {
			srv := newGitSrv(t)
			url, head := srv.addRepo("r", 130)
			release := srv.setHang("r")
			cfg := testConfig(t, mutant)
			cfg.GitTimeout = timeout
			e := startEnv(t, cfg)
			e.add("a", url)
			if err := e.f.syncScope(context.Background(), "a", syncOpts{}); !errors.Is(err, errTimeout) {
				t.Fatalf("hung clone: %v; want a timeout", err)
			}
			release()
			err := e.f.syncScope(context.Background(), "a", syncOpts{force: true})
			if mutant == "" && (err != nil || e.status("a").Head != head) {
				t.Fatalf("sync after the host came back: %v, head %q; want %s", err, e.status("a").Head, head)
			}
			if mutant != "" && err == nil {
				t.Fatalf("trust-partial-clone: the partial clone worked; want it trusted and broken")
			}
		})
	}
}
