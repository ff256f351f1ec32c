package fetcher

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/repogen"
)

// TestMutantTable: every name, seam and check is stated once; a name is
// valid exactly when the table has it.
func TestMutantTable(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range Mutants() {
		if seen[m.Name] {
			t.Errorf("mutant %s listed twice", m.Name)
		}
		seen[m.Name] = true
		for _, c := range m.MustFail {
			if c.Gate == "" || c.ID == "" || !strings.HasPrefix(c.ID, c.Gate+".") {
				t.Errorf("mutant %s: incomplete check %+v", m.Name, c)
			}
		}
		if len(m.Gates()) == 0 {
			t.Errorf("mutant %s: no gate", m.Name)
		}
	}
	got, err := LookupMutants([]string{"sibling-by-url", " ", "no-timeout"})
	if err != nil || len(got) != 2 || got[0].Name != "no-timeout" {
		t.Fatalf("LookupMutants: %v %v; want no-timeout and sibling-by-url in table order", got, err)
	}
	if _, err := LookupMutants([]string{"nope"}); err == nil {
		t.Fatal("LookupMutants(nope): no error")
	}
}

// TestMutantNoInflightGuard: a fetch hangs past the timeout. Correct: the
// deadline ends it, so the next sync's fetch is the only one at the server.
// no-inflight-guard: the lock is let go at the timeout while the fetch goes
// on, and the next sync starts a second one beside it.
func TestMutantNoInflightGuard(t *testing.T) {
	const timeout = time.Second
	for _, mutant := range []string{"", "no-inflight-guard"} {
		t.Run("mutant="+mutant, func(t *testing.T) {
			srv := newGitSrv(t)
			url, head := srv.addRepo("r", 16)
			cfg := testConfig(t, mutant)
			cfg.GitTimeout = timeout
			cfg.HostCap = 4
			e := startEnv(t, cfg)
			e.put("a", url)
			e.waitHash("a", head, 10*time.Second)
			e.settle()
			release := srv.setHang("r")
			defer release()
			if err := e.f.syncScope(context.Background(), "a", syncOpts{force: true}); err == nil {
				t.Fatal("first sync: no error; want a timeout")
			}
			if mutant == "" {
				waitFor(t, 5*time.Second, "the server sees the timed-out fetch end", func() (bool, string) {
					n := srv.stat(srv.active, "r")
					return n == 0, fmt.Sprintf("active %d", n)
				})
			} else {
				stays(t, 200*time.Millisecond, "the timed-out fetch still runs", func() (bool, string) {
					n := srv.stat(srv.active, "r")
					return n == 1, fmt.Sprintf("active %d", n)
				})
			}
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // the next cycle
				defer wg.Done()
				_ = e.f.syncScope(context.Background(), "a", syncOpts{force: true})
			}()
			waitFor(t, 5*time.Second, "the next cycle's fetch reaches the server", func() (bool, string) {
				n := srv.stat(srv.refs, "r")
				return n >= 3, fmt.Sprintf("ref advertisements %d (boot clone, first fetch, next)", n)
			})
			n := srv.stat(srv.maxActive, "r")
			release()
			wg.Wait()
			if mutant == "" && n != 1 {
				t.Fatalf("at most %d requests at once on the repo; want 1 (the timed-out fetch ended at its deadline)", n)
			}
			if mutant != "" && n < 2 {
				t.Fatalf("no-inflight-guard: at most %d requests at once; want 2 (the timed-out fetch still running beside the next)", n)
			}
		})
	}
}

// TestMutantsOnTaskList: finished tasks leave the list. Correct: the moment
// they finish. sweep-only-on-add: only when the next webhook comes, and
// then all of them. webhook-task-leak: the next webhook's sweep skips the
// task after each one it removes.
func TestMutantsOnTaskList(t *testing.T) {
	for _, mutant := range []string{"", "sweep-only-on-add", "webhook-task-leak"} {
		t.Run("mutant="+mutant, func(t *testing.T) {
			srv, e, _, _ := serving(t, mutant, 80, "a")
			release := srv.setHang("r")
			defer release()
			for range 20 { // all hang on one fetch: none finished when the next comes
				if code, _ := e.do("POST", "/scopes/a/refresh", nil); code != http.StatusOK {
					t.Fatalf("refresh: HTTP %d", code)
				}
			}
			release()
			waitFor(t, 10*time.Second, "every refresh task finished", func() (bool, string) {
				n := e.stats().TasksRunning
				return n == 0, fmt.Sprintf("tasks_running %d", n)
			})
			idle := e.stats().WebhookTasks
			hang := srv.setHang("r") // the trailing task stays running
			defer hang()
			if code, _ := e.do("POST", "/scopes/a/refresh", nil); code != http.StatusOK {
				t.Fatalf("refresh: HTTP %d", code)
			}
			trailing := e.stats().WebhookTasks
			t.Logf("webhook_tasks: %d with every task finished, %d after one more webhook (1 running)", idle, trailing)
			switch mutant {
			case "":
				if idle != 0 || trailing != 1 {
					t.Fatalf("webhook_tasks %d then %d; want 0 then 1", idle, trailing)
				}
			case "sweep-only-on-add":
				if idle != 20 || trailing != 1 {
					t.Fatalf("sweep-only-on-add: webhook_tasks %d then %d; want 20 then 1", idle, trailing)
				}
			case "webhook-task-leak":
				if idle != 20 || trailing != 11 {
					t.Fatalf("webhook-task-leak: webhook_tasks %d then %d; want 20 then 11 (10 skipped + 1 running)", idle, trailing)
				}
			}
		})
	}
}

// TestMutantStampAtCompletion: a forced sync requested while a fetch runs
// waits for it. Correct: that fetch started before the request, so the
// sync fetches again. stamp-at-completion: the fetch is stamped when it
// ended, after the request, so the forced fetch is suppressed.
func TestMutantStampAtCompletion(t *testing.T) {
	for _, mutant := range []string{"", "stamp-at-completion"} {
		t.Run("mutant="+mutant, func(t *testing.T) {
			srv, e, _, _ := serving(t, mutant, 90, "a")
			e.settle()
			refs := srv.stat(srv.refs, "r")
			release := srv.setHang("r")
			defer release()
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = e.f.syncScope(context.Background(), "a", syncOpts{force: true, reqTime: time.Now()})
			}()
			waitFor(t, 5*time.Second, "the first fetch reaches the server", func() (bool, string) {
				n := srv.stat(srv.active, "r")
				return n >= 1, fmt.Sprintf("active %d", n)
			})
			req := time.Now() // requested while the first fetch runs
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = e.f.syncScope(context.Background(), "a", syncOpts{force: true, reqTime: req})
			}()
			stays(t, 200*time.Millisecond, "the second sync waits for the first", func() (bool, string) {
				n := srv.stat(srv.maxActive, "r")
				return n == 1, fmt.Sprintf("max concurrent requests %d", n)
			})
			release()
			wg.Wait()
			n := srv.stat(srv.refs, "r") - refs
			if mutant == "" && n != 2 {
				t.Fatalf("%d fetches; want 2 (the forced sync requested during the first fetch fetches again)", n)
			}
			if mutant != "" && n != 1 {
				t.Fatalf("stamp-at-completion: %d fetches; want 1 (the completion stamp suppresses the second)", n)
			}
		})
	}
}

// TestMutantDeleteWrongScope: deleting a while b lives. Correct: a's clone
// goes, b's stays. delete-wrong-scope: b's clone goes, a's stays.
func TestMutantDeleteWrongScope(t *testing.T) {
	for _, mutant := range []string{"", "delete-wrong-scope"} {
		t.Run("mutant="+mutant, func(t *testing.T) {
			srv := newGitSrv(t)
			e := startEnv(t, testConfig(t, mutant))
			ua, ha := srv.addRepo("ra", 130)
			ub, hb := srv.addRepo("rb", 131)
			e.put("a", ua)
			e.put("b", ub)
			e.waitHash("a", ha, 10*time.Second)
			e.waitHash("b", hb, 10*time.Second)
			dirA := filepath.Join(e.cfg.BaseDir, "git_sources", e.f.SourceID(ua, "main"))
			dirB := filepath.Join(e.cfg.BaseDir, "git_sources", e.f.SourceID(ub, "main"))
			if code, _ := e.do("DELETE", "/scopes/a", nil); code != http.StatusNoContent {
				t.Fatalf("DELETE: HTTP %d", code)
			}
			e.settle()
			a, b := dirExists(dirA), dirExists(dirB)
			if mutant == "" && (a || !b) {
				t.Fatalf("after deleting a: a's clone there %v, b's %v; want false, true", a, b)
			}
			if mutant != "" && (!a || b) {
				t.Fatalf("delete-wrong-scope: a's clone there %v, b's %v; want true, false", a, b)
			}
		})
	}
}

// TestMutantSiblingByURL: with 4 shards, a (main) and b (another branch) of
// one repo have two clones. Deleting a: correct removes a's clone;
// sibling-by-url keeps it because b has the same url.
func TestMutantSiblingByURL(t *testing.T) {
	for _, mutant := range []string{"", "sibling-by-url"} {
		t.Run("mutant="+mutant, func(t *testing.T) {
			srv := newGitSrv(t)
			cfg := testConfig(t, mutant)
			cfg.Shards = 4
			e := startEnv(t, cfg)
			u, head := srv.addRepo("r", 140)
			branch := ""
			for _, b := range []string{"dev", "next", "stable", "x1", "x2", "x3"} {
				if e.f.SourceID(u, b) != e.f.SourceID(u, "main") {
					branch = b
					break
				}
			}
			if branch == "" {
				t.Fatal("no branch on another shard than main")
			}
			if _, err := repogen.AddBranch(filepath.Join(srv.root, "r.git"), branch, "main"); err != nil {
				t.Fatal(err)
			}
			e.put("a", u)
			sb := scopeBody("b", u)
			sb.Policy.Branch = branch
			if code, body := e.do("PUT", "/scopes", sb); code != http.StatusCreated {
				t.Fatalf("PUT b: HTTP %d %s", code, body)
			}
			e.waitHash("a", head, 10*time.Second)
			e.waitHash("b", head, 10*time.Second)
			dirA := filepath.Join(e.cfg.BaseDir, "git_sources", e.f.SourceID(u, "main"))
			if code, _ := e.do("DELETE", "/scopes/a", nil); code != http.StatusNoContent {
				t.Fatalf("DELETE: HTTP %d", code)
			}
			e.settle()
			_, err := os.Stat(dirA)
			kept := err == nil
			if mutant == "" && kept {
				t.Fatal("a's clone kept after deleting a; b is on another shard")
			}
			if mutant != "" && !kept {
				t.Fatal("sibling-by-url: a's clone removed; want it kept (b has the same url)")
			}
		})
	}
}

// TestMutantsDocumented: docs/fetcher.md's mutant table lists every mutant
// of the table in its order, with its seam and the IDs of its must-fail
// checks, and nothing else.
func TestMutantsDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "fetcher.md"))
	if err != nil {
		t.Fatalf("read docs: %v", err)
	}
	var rows [][]string
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) != 5 {
			continue // another table
		}
		rows = append(rows, cells)
	}
	ms := Mutants()
	if len(rows) != len(ms) {
		t.Errorf("docs/fetcher.md's mutant table has %d rows, the mutant table %d", len(rows), len(ms))
	}
	idRE := regexp.MustCompile("`([a-z][a-z-]*\\.[a-z0-9-]+)`")
	for i := range min(len(rows), len(ms)) {
		m, r := ms[i], rows[i]
		if got := strings.Trim(strings.TrimSpace(r[0]), "`"); got != m.Name {
			t.Errorf("docs row %d names %q, the table's row %d is %q", i+1, got, i+1, m.Name)
			continue
		}
		if got := strings.TrimSpace(r[1]); got != m.Seam {
			t.Errorf("%s: docs say seam %q, the table %q", m.Name, got, m.Seam)
		}
		var ids []string
		for _, sm := range idRE.FindAllStringSubmatch(r[4], -1) {
			ids = append(ids, sm[1])
		}
		var want []string
		for _, c := range m.MustFail {
			want = append(want, c.ID)
		}
		if !slices.Equal(ids, want) {
			t.Errorf("%s: docs list must-fail checks %v, the table %v", m.Name, ids, want)
		}
	}
}
