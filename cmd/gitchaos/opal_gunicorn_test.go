package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitchaos/gitchaos/internal/gates"
)

// The real OPAL server in its production shape: gunicorn with OPAL's
// gunicorn_conf.py (the master preloads the scopes before forking), 2
// workers and a PostgreSQL broadcaster (../shared/opal/run-opal-gunicorn.sh).
// Only boot and crash-restart (docs/opal/suite-gunicorn.yaml): the gates
// that restart OPAL, where the master's preload builds the git pool the
// workers inherit. About 30 s against the uvicorn run's 100 s.

const (
	gunicornSuite    = "suite-gunicorn.yaml"
	gunicornExpected = "expected-gunicorn.yaml"
)

// opalGunicornWhyNot is why run-opal-gunicorn.sh cannot run here ("" when
// it can), beyond what opalDir checks: gunicorn, PostgreSQL and asyncpg.
func opalGunicornWhyNot(dir string) string {
	if _, err := os.Stat(filepath.Join(dir, "run-opal-gunicorn.sh")); err != nil {
		return "no run-opal-gunicorn.sh beside run-opal.sh: " + err.Error()
	}
	if pg, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres"); len(pg) == 0 {
		return "no PostgreSQL server (/usr/lib/postgresql/*/bin/postgres; run ../shared/opal/setup.sh)"
	}
	probe := exec.Command("/usr/bin/python3", "-c", "import gunicorn, asyncpg")
	if out, err := probe.CombinedOutput(); err != nil {
		return "gunicorn or asyncpg missing (run ../shared/opal/setup.sh): " + err.Error() + ": " + string(out)
	}
	return ""
}

// TestRealOPALGunicorn runs docs/opal/suite-gunicorn.yaml against OPAL
// under gunicorn and compares every verdict with
// docs/opal/expected-gunicorn.yaml. GITCHAOS_REQUIRE_OPAL=1 (CI) turns a
// missing OPAL into a failure.
func TestRealOPALGunicorn(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the real OPAL gate takes half a minute")
	}
	dir, why := opalDir(t)
	if why == "" {
		why = opalGunicornWhyNot(dir)
	}
	if why != "" {
		if os.Getenv("GITCHAOS_REQUIRE_OPAL") == "1" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	tmpl := "'" + filepath.Join(dir, "run-opal-gunicorn.sh") + "' --listen {addr} --base-dir {base_dir} --workers 2 --broadcast-pg"
	gateAgainstPins(t, tmpl, gunicornSuite, gunicornExpected)
}

// TestExpectedOPALGunicornFile keeps docs/opal/expected-gunicorn.yaml valid
// where OPAL cannot run: it parses under the pins' rules, names only
// declared checks, and pins exactly the checks of the gates its suite runs.
func TestExpectedOPALGunicornFile(t *testing.T) {
	want := loadExpected(t, filepath.Join("..", "..", "docs", "opal", gunicornExpected))
	gs := map[string]bool{}
	for _, c := range want {
		gs[strings.SplitN(c.Check, ".", 2)[0]] = true
		if _, ok := gates.LookupCheck(c.Check); !ok {
			t.Errorf("%s pins %s, which no gate declares", gunicornExpected, c.Check)
		}
	}
	for g := range gs {
		for _, c := range gates.ChecksOf(g) {
			if _, ok := want[c.ID]; !ok {
				t.Errorf("%s pins checks of %s but not %s (%s)", gunicornExpected, g, c.ID, c.Title)
			}
		}
	}
	if !gs["boot"] || !gs["crash-restart"] {
		t.Errorf("%s pins gates %v; its suite runs boot and crash-restart", gunicornExpected, gs)
	}
}
