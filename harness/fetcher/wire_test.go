package fetcher_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/gitchaos/gitchaos/harness/fetcher"
	"github.com/gitchaos/gitchaos/harness/target"
)

// TestWireKeys: the reference fetcher sends every stats and health key the
// scenarios read (harness/target's Stat* and Health* constants), under
// those names, so the client and the server cannot drift apart.
func TestWireKeys(t *testing.T) {
	b, err := json.Marshal(fetcher.Stats{})
	if err != nil {
		t.Fatal(err)
	}
	var stats map[string]any
	if err := json.Unmarshal(b, &stats); err != nil {
		t.Fatal(err)
	}
	want := append(slices.Clone(target.CacheKeys), target.StatInFlight, target.StatWebhookTasks)
	for _, k := range want {
		if _, ok := stats[k]; !ok {
			t.Errorf("fetcher.Stats has no %q key (keys: %v)", k, slices.Sorted(maps.Keys(stats)))
		}
	}

	f, err := fetcher.New(fetcher.Config{BaseDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	srv := httptest.NewServer(f.Handler())
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/healthcheck")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var health map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&health); err != nil {
		t.Fatal(err)
	}
	if _, ok := health[target.HealthScopesFailed]; !ok {
		t.Errorf("/healthcheck has no %q key (keys: %v)", target.HealthScopesFailed, slices.Sorted(maps.Keys(health)))
	}
}
