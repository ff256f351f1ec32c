package target

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/gitchaos/gitchaos/harness/probe"
)

// stubServer answers the health and stats routes and keeps one goroutine
// of its own running until Close.
type stubServer struct {
	done    chan struct{}
	stopped chan struct{}
}

func startStub(context.Context) *stubServer {
	s := &stubServer{done: make(chan struct{}), stopped: make(chan struct{})}
	go func() { defer close(s.stopped); <-s.done }()
	return s
}

func (s *stubServer) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"repo_locks":0}`))
	})
}

func (s *stubServer) Close() error {
	close(s.done)
	<-s.stopped
	return nil
}

// TestStartInProcess: any Server runs as an in-process target (no
// reference fetcher needed): Start runs on the base dir under the
// target's label, so the server's own goroutine is counted; Restart and
// ColdStart start it again on the same base dir, ColdStart clears
// git_sources; Close stops it and removes the base dir; a failing Start
// leaves nothing behind.
func TestStartInProcess(t *testing.T) {
	ctx := context.Background()
	var starts []string
	spec := InProcessSpec{Describe: "stub", TempDir: t.TempDir(), Start: func(ctx context.Context, dir string, s Settings) (Server, error) {
		starts = append(starts, dir)
		return startStub(ctx), nil
	}}
	tg, err := StartInProcess(ctx, testSettings, spec)
	if err != nil {
		t.Fatal(err)
	}
	base := tg.BaseDir()
	if tg.Describe() != "stub" || !tg.InProcess() || tg.Settings() != testSettings {
		t.Errorf("describe %q, in-process %v, settings %+v", tg.Describe(), tg.InProcess(), tg.Settings())
	}
	smp, err := tg.Probe().Sample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g, ok := smp.Get(probe.Goroutines); !ok || g < 1 {
		t.Errorf("goroutines of the target = %v (measured %v), want the stub's own >= 1", g, ok)
	}
	if err := tg.Restart(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(base, "git_sources", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := tg.(ColdStarter).ColdStart(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(base, "git_sources")); !os.IsNotExist(err) {
		t.Errorf("cold start left git_sources (%v)", err)
	}
	if len(starts) != 3 || starts[1] != base || starts[2] != base {
		t.Errorf("starts on %q, want 3 on %s", starts, base)
	}
	if _, err := tg.Client().Health(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(base); !os.IsNotExist(err) {
		t.Errorf("base dir %s still there after Close (%v)", base, err)
	}

	boom := errors.New("boom")
	spec.TempDir = t.TempDir()
	spec.Start = func(context.Context, string, Settings) (Server, error) { return nil, boom }
	if _, err := StartInProcess(ctx, testSettings, spec); !errors.Is(err, boom) {
		t.Errorf("StartInProcess with a failing Start = %v, want %v", err, boom)
	}
	if ents, _ := os.ReadDir(spec.TempDir); len(ents) != 0 {
		t.Errorf("a failed start left %d entries in its temp dir", len(ents))
	}
}
