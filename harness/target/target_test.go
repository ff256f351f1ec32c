package target

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gitchaos/gitchaos/harness/fetcher/fetchertest"
	"github.com/gitchaos/gitchaos/harness/guard"
	"github.com/gitchaos/gitchaos/harness/probe"
)

// TestMain doubles as the reference fetcher process for the exec tests,
// and as the exec targets' guard.
func TestMain(m *testing.M) {
	fetchertest.MaybeRun("GITCHAOS_TARGET_TEST_FETCHER")
	guard.MaybeRun()
	goleak.VerifyTestMain(m)
}

// TestExecArgv: a template is split as a shell would (quotes, escapes),
// Args are taken as they are, and a bad command is an error naming what is
// wrong.
func TestExecArgv(t *testing.T) {
	for in, want := range map[string][]string{
		`a b  c`:                           {"a", "b", "c"},
		`'/x y/bin' --l {addr}`:            {"/x y/bin", "--l", "{addr}"},
		`a "b 'c' d" e`:                    {"a", "b 'c' d", "e"},
		"a\tb\n":                           {"a", "b"},
		`--x=""`:                           {"--x="},
		`/x\ y/bin --l {addr}`:             {"/x y/bin", "--l", "{addr}"},
		`reffetcher --base-dir {base_dir}`: {"reffetcher", "--base-dir", "{base_dir}"},
	} {
		got, err := (&Exec{Template: in}).argv()
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Exec{Template: %q}.argv() = %q, %v; want %q", in, got, err, want)
		}
	}
	args := []string{"/x y/bin", "--listen", "{addr}", "it's"}
	if got, err := (&Exec{Args: args}).argv(); err != nil || !reflect.DeepEqual(got, args) {
		t.Errorf("Exec{Args: %q}.argv() = %q, %v; want them as they are", args, got, err)
	}
	for _, tc := range []struct {
		e    *Exec
		want string
	}{
		{&Exec{Template: `a 'b {addr}`}, "closing quote"},
		{&Exec{Template: `sh {addr}`, Args: []string{"sh"}}, "give one"},
		{&Exec{}, "empty command"},
		{&Exec{Args: []string{"sh", "-c", "true"}}, "neither {addr} nor {port}"},
		{&Exec{Args: []string{"/no/such/server", "{addr}"}}, `command "/no/such/server"`},
	} {
		if err := tc.e.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want an error containing %q", tc.e.Describe(), err, tc.want)
		}
	}
}

func TestSettings(t *testing.T) {
	s := Settings{GitTimeout: 1500 * time.Millisecond, MaxWorkers: 8, SyncConcurrency: 4, Shards: 2}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	want := []string{"OPAL_SCOPES_GIT_FETCH_TIMEOUT=1.5", "OPAL_SCOPES_GIT_MAX_WORKERS=8", "OPAL_SCOPES_SYNC_CONCURRENCY=4", "OPAL_SCOPES_REPO_CLONES_SHARDS=2",
		"SCOPES_GIT_FETCH_TIMEOUT=1.5", "SCOPES_GIT_MAX_WORKERS=8", "SCOPES_SYNC_CONCURRENCY=4", "SCOPES_REPO_CLONES_SHARDS=2"}
	if got := s.Env(); !reflect.DeepEqual(got, want) {
		t.Errorf("Env() = %q, want %q", got, want)
	}
	err := Settings{}.Validate()
	for _, w := range []string{"git timeout", "max workers 0", "sync concurrency 0", "shards 0"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("zero settings: error %v lacks %q", err, w)
		}
	}
}

func TestFactoryValidation(t *testing.T) {
	for _, tc := range []struct {
		f    interface{ Validate() error }
		want string
	}{
		{&Exec{Template: ""}, "empty command"},
		{&Exec{Template: "reffetcher --base-dir {base_dir}"}, "neither {addr} nor {port}"},
		{&Exec{Template: "/no/such/bin --listen {addr}"}, "/no/such/bin"},
		{&Exec{Template: "x 'unterminated {addr}"}, "closing quote"},
		{&URL{BaseURL: "ftp://127.0.0.1:7002", Stated: Settings{GitTimeout: time.Second, MaxWorkers: 1, SyncConcurrency: 1, Shards: 1}}, "want http(s)://host:port"},
		{&URL{BaseURL: "http://127.0.0.1:7002"}, "max workers 0"},
	} {
		if err := tc.f.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%#v: error %v, want one containing %q", tc.f, err, tc.want)
		}
	}
}

func TestCountLabelled(t *testing.T) {
	profile := `goroutine profile: total 7
3 @ 0x1 0x2
# labels: {"gitchaos_target":"t1"}
#	0x1	main.a+0x1	a.go:1

2 @ 0x3
# labels: {"gitchaos_target":"t12", "x":"y"}
#	0x3	main.b+0x1	b.go:1

2 @ 0x4
#	0x4	main.c+0x1	c.go:1
`
	if n := countLabelled([]byte(profile), `"gitchaos_target":"t1"`); n != 3 {
		t.Errorf("t1: %d goroutines, want 3 (t12 must not match)", n)
	}
	if n := countLabelled([]byte(profile), `"gitchaos_target":"t12"`); n != 2 {
		t.Errorf("t12: %d goroutines, want 2", n)
	}
}

var testSettings = Settings{GitTimeout: time.Second, MaxWorkers: 2, SyncConcurrency: 2, Shards: 1}

// TestExec starts the fetcher as a process, kills and restarts it, keeps
// its logs in the artifact dir, and measures it through its pid.
func TestExec(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	art := t.TempDir()
	f := &Exec{Template: "'" + exe + "' --listen {addr} --base-dir {base_dir}", Env: []string{"GITCHAOS_TARGET_TEST_FETCHER=1"}, ArtifactDir: art, TempDir: t.TempDir()}
	ctx := context.Background()
	tg, err := f.New(ctx, testSettings)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	k, ok := tg.(Killer)
	if !ok {
		t.Fatal("exec target is not a Killer")
	}
	smp, err := tg.Probe().Sample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{probe.FDs, probe.RSS, probe.Threads, probe.Goroutines, probe.Heap, "repo_locks"} {
		if _, ok := smp.Get(m); !ok {
			t.Errorf("metric %s unavailable on a process target: %v", m, smp.Unavailable[m])
		}
	}
	if err := k.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := tg.Client().Health(ctx); err == nil {
		t.Fatal("healthy after SIGKILL")
	}
	if err := k.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := tg.Client().Health(ctx); err != nil {
		t.Fatalf("after start: %v", err)
	}
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
	logs, _ := filepath.Glob(filepath.Join(art, "*.log"))
	if len(logs) != 4 {
		t.Errorf("artifact dir holds %d logs, want 4 (stdout+stderr of 2 runs): %v", len(logs), logs)
	}
}

// TestExecReportsEarlyExit: a command that exits at once is an error
// naming it, with its stderr, not a hang.
func TestExecReportsEarlyExit(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f := &Exec{Template: "'" + exe + "' --listen {addr} --base-dir {base_dir} --mutant bogus", Env: []string{"GITCHAOS_TARGET_TEST_FETCHER=1"}, TempDir: t.TempDir()}
	_, err = f.New(context.Background(), testSettings)
	if err == nil || !strings.Contains(err.Error(), "exited before serving") || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("error = %v, want an early exit naming the bad mutant", err)
	}
}

func TestLabelledStacksAndDiff(t *testing.T) {
	profile := "goroutine profile: total 4\n" +
		"2 @ 0x1 0x2\n# labels: {\"gitchaos_target\":\"t1\"}\n" +
		"#\t0x1\tpkg.hung+0x1\t\t\t/src/a.go:10\n#\t0x2\tpkg.worker+0x2\t/src/b.go:20\n\n" +
		"1 @ 0x3\n#\t0x3\tpkg.other+0x1\t/src/c.go:1\n\n" +
		"1 @ 0x4\n# labels: {\"gitchaos_target\":\"t1\"}\n#\t0x4\tpkg.idle+0x1\t/src/d.go:4\n"
	got := labelledStacks([]byte(profile), `"gitchaos_target":"t1"`)
	want := map[string]int{
		"pkg.hung+0x1  /src/a.go:10\npkg.worker+0x2  /src/b.go:20": 2,
		"pkg.idle+0x1  /src/d.go:4":                                1,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("labelledStacks = %v, want %v", got, want)
	}
	before := map[string]int{"pkg.idle+0x1  /src/d.go:4": 1}
	diff := StackDiff(before, got, 5)
	if !strings.Contains(diff, "2 more goroutine(s) of the target in 1 stack(s)") || !strings.Contains(diff, "pkg.hung+0x1  /src/a.go:10") || strings.Contains(diff, "pkg.idle") {
		t.Errorf("StackDiff = %q", diff)
	}
	if d := StackDiff(got, got, 5); d != "" {
		t.Errorf("no growth: StackDiff = %q, want empty", d)
	}
}
