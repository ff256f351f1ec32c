package fetcher

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBootStudy times a cold boot of many persisted scopes over fewer repos
// spread over 3 git hosts (git http-backend, each request delayed), with
// the defaults and with the given mutants. A study, not a gate:
//
//	FETCHER_BOOTSTUDY=1000/200/50ms go test -count=1 -run TestBootStudy -v ./harness/fetcher/
//
// (scopes/repos/delay per request; FETCHER_BOOTSTUDY_MUTANTS=serial-sync
// adds a run per comma-separated mutant). TestBootStudyTestbed is the same
// on the embedded testbed.
func TestBootStudy(t *testing.T) {
	nScopes, nRepos, delay := parseBootStudy(t, "FETCHER_BOOTSTUDY")
	hosts := []*gitSrv{newGitSrv(t), newGitSrv(t), newGitSrv(t)}
	urls := make([]string, nRepos)
	for i := range nRepos {
		h := hosts[i%3]
		urls[i], _ = h.addRepo(fmt.Sprintf("r%04d", i), int64(5000+i))
	}
	for _, h := range hosts {
		h.setDelay(delay)
	}
	bootStudy(t, urls, nScopes, fmt.Sprintf("3 http-backend hosts / %v per request", delay))
}

// parseBootStudy reads "<scopes>/<repos>/<duration>" from env, skipping
// the test when it is unset.
func parseBootStudy(t *testing.T, env string) (nScopes, nRepos int, d time.Duration) {
	t.Helper()
	spec := os.Getenv(env)
	if spec == "" {
		t.Skipf("set %s=<scopes>/<repos>/<duration> to run this boot study", env)
	}
	parts := strings.Split(spec, "/")
	if len(parts) != 3 {
		t.Fatalf("%s=%q: want scopes/repos/duration", env, spec)
	}
	nScopes, err1 := strconv.Atoi(parts[0])
	nRepos, err2 := strconv.Atoi(parts[1])
	d, err3 := time.ParseDuration(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || nRepos < 3 || nScopes < nRepos {
		t.Fatalf("%s=%q: bad numbers (want scopes >= repos >= 3 and a duration)", env, spec)
	}
	return nScopes, nRepos, d
}

// bootStudy persists nScopes scopes over urls, then times New + Boot until
// every scope is ready, for the defaults and for each mutant in
// FETCHER_BOOTSTUDY_MUTANTS, in one run (ratios are to the first).
func bootStudy(t *testing.T, urls []string, nScopes int, where string) {
	t.Helper()
	runs := []string{""}
	if m := os.Getenv("FETCHER_BOOTSTUDY_MUTANTS"); m != "" {
		runs = append(runs, strings.Split(m, ",")...)
	}
	var first time.Duration
	for _, mutant := range runs {
		cfg := testConfig(t)
		cfg.GitTimeout = DefaultGitTimeout
		cfg.MaxWorkers = DefaultMaxWorkers
		cfg.SyncConcurrency = DefaultSyncConcurrency
		cfg.HostCap = 0
		if mutant != "" {
			cfg.Mutants = []string{mutant}
		}
		st, err := openScopeStore(cfg.BaseDir+"/scopes", cfg.Logger)
		if err != nil {
			t.Fatal(err)
		}
		for i := range nScopes {
			if err := st.put(scopeBody(fmt.Sprintf("s%05d", i), urls[i%len(urls)])); err != nil {
				t.Fatal(err)
			}
		}
		f, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := f.Boot(context.Background()); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Minute)
		tick := time.NewTicker(20 * time.Millisecond)
		for f.Booting() && time.Now().Before(deadline) {
			<-tick.C // poll interval, bounded by the deadline
		}
		tick.Stop()
		took := time.Since(start)
		s := f.Stats()
		ratio := ""
		if mutant == "" {
			first = took
		} else if first > 0 {
			ratio = fmt.Sprintf(", %.1f× the correct fetcher", took.Seconds()/first.Seconds())
		}
		t.Logf("boot %d scopes / %d repos / %s, mutant %q: %v%s (ready %d, failed %d, process RSS %d MiB)",
			nScopes, len(urls), where, mutant, took.Round(time.Millisecond), ratio, s.ScopesReady, s.ScopesFailed, s.RSSKB>>10)
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if s.ScopesReady != nScopes {
			t.Fatalf("ready %d of %d after %v", s.ScopesReady, nScopes, took)
		}
	}
}
