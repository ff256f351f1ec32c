package gates

import (
	"strings"
	"testing"
	"time"
)

func TestParseSuite(t *testing.T) {
	st, err := ParseSuite("ok.yaml", []byte(`
seed: 7
settings: {git_timeout: 2s, max_workers: 4}
target_env: {OPAL_LOG_LEVEL: DEBUG, EXTRA: "a=b"}
scenarios:
  - name: churn
    params: {cycles: 12, budgets: {fds: 0.5}}
  - name: offline
`))
	if err != nil {
		t.Fatal(err)
	}
	if st.Seed == nil || *st.Seed != 7 {
		t.Errorf("seed = %v, want 7", st.Seed)
	}
	if st.Settings.GitTimeout != 2*time.Second || st.Settings.MaxWorkers != 4 || st.Settings.SyncConcurrency != DefaultSettings().SyncConcurrency {
		t.Errorf("settings = %+v: want git_timeout 2s, max_workers 4, the rest default", st.Settings)
	}
	if got := strings.Join(st.Only, ","); got != "churn,offline" {
		t.Errorf("only = %s", got)
	}
	if got := strings.Join(st.TargetEnv, " "); got != "OPAL_LOG_LEVEL=DEBUG EXTRA=a=b" {
		t.Errorf("target_env = %q", got)
	}
	cp := st.Params["churn"].(*ChurnParams)
	if cp.Cycles != 12 || cp.Scopes != 8 || cp.Budgets["fds"] != 0.5 {
		t.Errorf("churn params = %+v: want cycles 12, default scopes 8, fds budget 0.5", cp)
	}
}

func TestParseSuiteErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"unknown top key", "seed: 1\nscenarioz: []\n", `line 2: unknown key "scenarioz"`},
		{"unknown scenario", "scenarios:\n  - name: churn\n  - name: chrun\n", `line 3: unknown scenario "chrun"`},
		{"unknown param", "scenarios:\n  - name: churn\n    params:\n      cycles: 10\n      cylces: 3\n", `line 5: unknown key "cylces" in churn.params`},
		{"unknown setting", "settings:\n  git_timout: 1s\nscenarios: [{name: boot}]\n", `line 2: unknown key "git_timout" in settings`},
		{"bad setting", "settings: {max_workers: 0}\nscenarios: [{name: boot}]\n", "max workers 0"},
		{"bad duration", "scenarios:\n  - name: offline\n    params: {serve_budget: soon}\n", "line 3"},
		{"unknown metric", "scenarios:\n  - name: churn\n    params:\n      budgets: {fd: 1}\n", `line 4: unknown metric "fd"`},
		{"duplicate", "scenarios: [{name: boot}, {name: boot}]\n", `listed twice`},
		{"target_env not a map", "target_env: [A=1]\nscenarios: [{name: boot}]\n", "line 1: target_env: want a mapping"},
		{"target_env bad name", "target_env:\n  A: 1\n  'B C': 2\nscenarios: [{name: boot}]\n", `line 3: target_env: bad variable name "B C"`},
		{"target_env nested", "target_env:\n  A: {x: 1}\nscenarios: [{name: boot}]\n", "line 2: target_env.A: want a scalar"},
		{"empty", "", "empty suite file"},
		{"no scenarios", "seed: 3\n", "no scenarios listed"},
		{"not yaml", "scenarios: [\n", "bad.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSuite("bad.yaml", []byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "bad.yaml") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}
