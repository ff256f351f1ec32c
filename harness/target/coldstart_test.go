package target

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/harness/eventually"
	"github.com/gitchaos/gitchaos/harness/eventually/eventuallytest"
)

// TestExecColdStartAndExit: a cold start stops the process, removes its
// clone state (git_sources and the temp dir's entries) while it is down,
// spawns it without waiting and returns the spawn time; a kill by the
// harness is not an exit on its own, a kill from outside is, with the
// last log lines.
func TestExecColdStartAndExit(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f := &Exec{Template: "'" + exe + "' --listen {addr} --base-dir {base_dir}", Env: []string{"GITCHAOS_TARGET_TEST_FETCHER=1"}, TempDir: t.TempDir()}
	ctx := context.Background()
	tg, err := f.New(ctx, testSettings)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	clone := filepath.Join(tg.BaseDir(), "git_sources", "some-clone")
	staged := filepath.Join(TempDirOf(tg.BaseDir()), "staged-clone")
	for _, d := range []string{clone, staged} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	before := time.Now()
	var downErr error
	spawn, err := tg.(ColdStarter).ColdStart(ctx, func(ctx context.Context) error {
		if _, err := tg.Client().Health(ctx); err == nil {
			return errors.New("target answers while it should be down")
		}
		for _, d := range []string{clone, staged} {
			if _, err := os.Stat(d); !os.IsNotExist(err) {
				downErr = errors.Join(downErr, errors.New(d+" still there while the target is down"))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if downErr != nil {
		t.Fatal(downErr)
	}
	if spawn.Before(before) {
		t.Errorf("spawn time %v before the cold start began %v", spawn, before)
	}
	eventuallytest.Require(t, 30*time.Second, "healthy after the cold start", func() (bool, any) {
		_, err := tg.Client().Health(ctx)
		return err == nil, err
	})
	er := tg.(ExitReporter)
	if err := tg.(Killer).Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if why := er.Exited(); why != "" {
		t.Fatalf("a kill by the harness reads as an exit on its own: %s", why)
	}
	if err := tg.(Killer).Start(ctx); err != nil {
		t.Fatal(err)
	}
	pid := tg.(*execTarget).PID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually.Within(10*time.Second, func() bool { return er.Exited() != "" })
	why := er.Exited()
	if !strings.Contains(why, "exited on its own") || !strings.Contains(why, "killed") || !strings.Contains(why, "stderr.log") {
		t.Fatalf("Exited() = %q: want an exit on its own by a signal, with the log tail", why)
	}
}
