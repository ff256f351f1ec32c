package fetcher

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/harness/faults"
	"github.com/gitchaos/gitchaos/harness/testbed"
)

// TestBootStudyTestbed times a cold boot of many persisted scopes over
// fewer repos on the embedded testbed (3 hosts, git servers behind
// toxiproxy with latency injected on every host), for the correct fetcher
// and each given mutant in the same run. A study, not a gate:
//
//	FETCHER_TESTBED_BOOTSTUDY=1000/200/50ms FETCHER_BOOTSTUDY_MUTANTS=serial-sync \
//	  go test -count=1 -run TestBootStudyTestbed -v -timeout 30m ./harness/fetcher/
func TestBootStudyTestbed(t *testing.T) {
	spec := os.Getenv("FETCHER_TESTBED_BOOTSTUDY")
	if spec == "" {
		t.Skip("set FETCHER_TESTBED_BOOTSTUDY=<scopes>/<repos>/<latency> to run the boot study on the testbed")
	}
	parts := strings.Split(spec, "/")
	if len(parts) != 3 {
		t.Fatalf("FETCHER_TESTBED_BOOTSTUDY=%q: want scopes/repos/latency", spec)
	}
	nScopes, err1 := strconv.Atoi(parts[0])
	nRepos, err2 := strconv.Atoi(parts[1])
	latency, err3 := time.ParseDuration(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || nRepos < 3 || nScopes < nRepos {
		t.Fatalf("FETCHER_TESTBED_BOOTSTUDY=%q: bad numbers (want scopes >= repos >= 3)", spec)
	}
	ctx := context.Background()
	tb, err := testbed.NewLocal(ctx, testbed.Options{Hosts: 3, Repos: (nRepos + 2) / 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	urls := make([]string, nRepos)
	for i := range nRepos {
		h := tb.Hosts()[i%3]
		urls[i] = h.RepoURL(testbed.RepoName(i / 3))
	}
	for _, h := range tb.Hosts() {
		f, err := faults.Parse("latency:latency=" + latency.String())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.Inject(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
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
		if err := f.Boot(ctx); err != nil {
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
		t.Logf("testbed boot: %d scopes / %d repos / 3 hosts / %v latency, mutant %q: %v%s (ready %d, failed %d, process RSS %d MiB)",
			nScopes, nRepos, latency, mutant, took.Round(time.Millisecond), ratio, s.ScopesReady, s.ScopesFailed, s.RSSKB>>10)
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if s.ScopesReady != nScopes {
			t.Fatalf("ready %d of %d after %v", s.ScopesReady, nScopes, took)
		}
	}
}
