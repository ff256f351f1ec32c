package scenarios_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
	"github.com/gitchaos/gitchaos/internal/gates"
	"github.com/gitchaos/gitchaos/scenarios"
)

// hostileServer answers /healthcheck 200 and accepts scopes, but serves
// bundles according to mode: never (404 forever), hang (never answers),
// cut (closes mid-body), types (wrong JSON types). Mode "dead" does not
// even answer the health check.
func hostileServer(t *testing.T, mode string) *httptest.Server {
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hang := func() {
			select {
			case <-stop:
			case <-r.Context().Done():
			}
		}
		if mode == "dead" {
			hang()
			return
		}
		switch {
		case r.URL.Path == "/healthcheck":
			_, _ = io.WriteString(w, `{"status":"ok"}`)
		case r.URL.Path == "/scopes" && r.Method == http.MethodGet:
			_, _ = io.WriteString(w, `[]`)
		case strings.HasSuffix(r.URL.Path, "/policy"):
			switch mode {
			case "never":
				http.NotFound(w, r)
			case "hang":
				hang()
			case "cut":
				w.Header().Set("Content-Length", "5000")
				_, _ = io.WriteString(w, `{"manifest":["a.rego"],"ha`)
				if hj, ok := w.(http.Hijacker); ok {
					if c, _, err := hj.Hijack(); err == nil {
						c.Close()
					}
				}
			case "types":
				_ = json.NewEncoder(w).Encode(map[string]any{"manifest": "a.rego", "hash": 7})
			}
		case r.URL.Path == target.StatsPath:
			_, _ = io.WriteString(w, `{}`)
		default: // PUT /scopes, refresh, delete
			_, _ = io.WriteString(w, `{}`)
		}
	}))
	t.Cleanup(func() { close(stop); srv.Close() })
	return srv
}

// TestHostileTargetFailsWithinBudget: against a target that never serves
// (or answers garbage) a scenario ends within its budget with a failed
// check or an error that says why — not a hang, not a panic.
func TestHostileTargetFailsWithinBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: each case waits out its 15 s budget (make test runs it without -short)")
	}
	const budget = 15 * time.Second
	for mode, want := range map[string]string{
		"never": "HTTP 404",
		"hang":  "deadline",
		"cut":   "unexpected EOF",
		"types": `field "hash": got JSON number, want string`,
		"dead":  "GET /healthcheck: no complete answer within",
	} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			srv := hostileServer(t, mode)
			f := &target.URL{BaseURL: srv.URL, Stated: scenarios.DefaultSettings()}
			start := time.Now()
			res := scenarios.Measure(t, f, scenarios.RepeatSyncParams{}, scenarios.WithTimeout(budget))
			took := time.Since(start)
			// The budget, then teardown (faults, scope deletes) and a slack
			// for a loaded machine.
			if took > budget+15*time.Second {
				t.Errorf("took %v against a %v budget", took, budget)
			}
			v := res.Verdict()
			explain := gates.Explain(res)
			if v != result.Fail && v != result.Error {
				t.Fatalf("verdict %s, want fail or error:\n%s", v, explain)
			}
			if strings.Contains(explain, "panic") || !strings.Contains(explain, want) {
				t.Errorf("verdict %s does not say %q (or says panic):\n%s", v, want, explain)
			}
		})
	}
}
