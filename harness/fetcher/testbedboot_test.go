package fetcher

import (
	"context"
	"fmt"
	"testing"

	"github.com/gitchaos/gitchaos/harness/faults"
	"github.com/gitchaos/gitchaos/harness/testbed"
)

// TestBootStudyTestbed is TestBootStudy on the embedded testbed: 3 hosts,
// git servers behind toxiproxy, the given latency injected on every host.
// A study, not a gate:
//
//	FETCHER_TESTBED_BOOTSTUDY=1000/200/50ms FETCHER_BOOTSTUDY_MUTANTS=serial-sync \
//	  go test -count=1 -run TestBootStudyTestbed -v -timeout 30m ./harness/fetcher/
func TestBootStudyTestbed(t *testing.T) {
	nScopes, nRepos, latency := parseBootStudy(t, "FETCHER_TESTBED_BOOTSTUDY")
	ctx := context.Background()
	tb, err := testbed.NewLocal(ctx, testbed.Options{Hosts: 3, Repos: (nRepos + 2) / 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	urls := make([]string, nRepos)
	for i := range nRepos {
		urls[i] = tb.Hosts()[i%3].RepoURL(testbed.RepoName(i / 3))
	}
	f, err := faults.Parse("latency:latency=" + latency.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range tb.Hosts() {
		if _, err := h.Inject(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	bootStudy(t, urls, nScopes, fmt.Sprintf("3 testbed hosts / %v latency", latency))
}
