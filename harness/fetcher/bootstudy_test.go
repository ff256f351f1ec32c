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
// adds a run per comma-separated mutant).
func TestBootStudy(t *testing.T) {
	spec := os.Getenv("FETCHER_BOOTSTUDY")
	if spec == "" {
		t.Skip("set FETCHER_BOOTSTUDY=<scopes>/<repos>/<delay> to run the boot study")
	}
	parts := strings.Split(spec, "/")
	if len(parts) != 3 {
		t.Fatalf("FETCHER_BOOTSTUDY=%q: want scopes/repos/delay", spec)
	}
	nScopes, err1 := strconv.Atoi(parts[0])
	nRepos, err2 := strconv.Atoi(parts[1])
	delay, err3 := time.ParseDuration(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || nRepos < 1 || nScopes < nRepos {
		t.Fatalf("FETCHER_BOOTSTUDY=%q: bad numbers", spec)
	}
	hosts := []*gitSrv{newGitSrv(t), newGitSrv(t), newGitSrv(t)}
	urls := make([]string, nRepos)
	for i := range nRepos {
		h := hosts[i%3]
		urls[i], _ = h.addRepo(fmt.Sprintf("r%04d", i), int64(5000+i))
	}
	for _, h := range hosts {
		h.setDelay(delay)
	}
	runs := []string{""}
	if m := os.Getenv("FETCHER_BOOTSTUDY_MUTANTS"); m != "" {
		runs = append(runs, strings.Split(m, ",")...)
	}
	for _, mutant := range runs {
		cfg := testConfig(t)
		cfg.GitTimeout = DefaultGitTimeout
		cfg.MaxWorkers = DefaultMaxWorkers
		cfg.HostCap = 0
		if mutant != "" {
			cfg.Mutants = []string{mutant}
		}
		st, err := openScopeStore(cfg.BaseDir+"/scopes", cfg.Logger)
		if err != nil {
			t.Fatal(err)
		}
		for i := range nScopes {
			if err := st.put(scopeBody(fmt.Sprintf("s%05d", i), urls[i%nRepos])); err != nil {
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
		deadline := time.Now().Add(10 * time.Minute)
		for f.Booting() && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		took := time.Since(start)
		s := f.Stats()
		t.Logf("boot %d scopes / %d repos / 3 hosts / %v per request, mutant %q: %v (ready %d, failed %d, rss %d MiB)",
			nScopes, nRepos, delay, mutant, took.Round(time.Millisecond), s.ScopesReady, s.ScopesFailed, s.RSSKB>>10)
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if s.ScopesReady != nScopes {
			t.Fatalf("ready %d of %d", s.ScopesReady, nScopes)
		}
	}
}
