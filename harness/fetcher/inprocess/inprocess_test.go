package inprocess_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gitchaos/gitchaos/harness/fetcher/inprocess"
	"github.com/gitchaos/gitchaos/harness/probe"
	"github.com/gitchaos/gitchaos/harness/target"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestInProcess: a fresh fetcher per New, its goroutines counted by label
// (a goroutine of the test is not), restart keeps the base dir, Close
// removes it and leaves no goroutine (goleak in TestMain).
func TestInProcess(t *testing.T) {
	ctx := context.Background()
	f := &inprocess.Factory{TempDir: t.TempDir()}
	if !f.Fresh() || !strings.Contains(f.Describe(), "(correct)") {
		t.Errorf("factory: fresh %v, describe %q", f.Fresh(), f.Describe())
	}
	tg, err := f.New(ctx, target.Settings{GitTimeout: time.Second, MaxWorkers: 2, SyncConcurrency: 2, Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	base := tg.BaseDir()
	if _, err := tg.Client().Health(ctx); err != nil {
		t.Fatal(err)
	}
	smp, err := tg.Probe().Sample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	g, ok := smp.Get(probe.Goroutines)
	if !ok || g < 1 {
		t.Fatalf("goroutines of the target = %v (measured %v), want >= 1", g, ok)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); <-stop }() // not the target's
	smp2, err := tg.Probe().Sample(ctx)
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if g2, _ := smp2.Get(probe.Goroutines); g2 != g {
		t.Errorf("a test goroutine changed the target's count: %v -> %v", g, g2)
	}
	for _, m := range []string{probe.FDs, probe.Heap, probe.RSS, probe.Disk, "repo_locks"} {
		if _, ok := smp.Get(m); !ok {
			t.Errorf("metric %s unavailable: %v", m, smp.Unavailable[m])
		}
	}
	if err := tg.Restart(ctx, true); err != nil {
		t.Fatal(err)
	}
	if tg.BaseDir() != base {
		t.Errorf("restart moved the base dir: %s -> %s", base, tg.BaseDir())
	}
	if _, err := tg.Client().Health(ctx); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(base); !os.IsNotExist(err) {
		t.Errorf("base dir %s still there after Close (%v)", base, err)
	}
}
