package target

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gitchaos/gitchaos/harness/fetcher"
	"github.com/gitchaos/gitchaos/harness/probe"
)

// InProcess makes reference fetchers running in this process, each on its
// own temp base dir and 127.0.0.1 port.
type InProcess struct {
	Mutants []string              // historical bugs switched back on
	Logger  *slog.Logger          // nil: discard
	TempDir string                // parent of base dirs ("" = os.TempDir())
	Tune    func(*fetcher.Config) // optional last word on the config
}

// MutantNames implements Mutated.
func (f *InProcess) MutantNames() []string { return append([]string(nil), f.Mutants...) }

// Describe implements Factory.
func (f *InProcess) Describe() string { return "in-process reffetcher " + mutantsLabel(f.Mutants) }

// Fresh implements Factory.
func (f *InProcess) Fresh() bool { return true }

func mutantsLabel(m []string) string {
	if len(m) == 0 {
		return "(correct)"
	}
	return "(mutants: " + strings.Join(m, ",") + ")"
}

// New implements Factory.
func (f *InProcess) New(ctx context.Context, s Settings) (Target, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("in-process target: %w", err)
	}
	dir, err := os.MkdirTemp(f.TempDir, "gitchaos-reffetcher-*")
	if err != nil {
		return nil, fmt.Errorf("in-process target: base dir: %w", err)
	}
	logger := f.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg := fetcher.Config{
		BaseDir:         dir,
		MaxWorkers:      s.MaxWorkers,
		GitTimeout:      s.GitTimeout,
		SyncConcurrency: s.SyncConcurrency,
		Shards:          s.Shards,
		Mutants:         f.Mutants,
		Logger:          logger,
	}
	if f.Tune != nil {
		f.Tune(&cfg)
	}
	t := &inProcess{desc: f.Describe(), cfg: cfg, settings: s, label: nextLabel()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("in-process target: listen: %w", err)
	}
	t.client = &Client{BaseURL: "http://" + ln.Addr().String(), HTTP: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	t.srv = &http.Server{Handler: http.HandlerFunc(t.serve), ReadHeaderTimeout: 5 * time.Second}
	t.served = make(chan struct{})
	go func() {
		defer close(t.served)
		t.do(context.Background(), func(context.Context) { _ = t.srv.Serve(ln) })
	}()
	if err := t.start(ctx); err != nil {
		t.Close()
		return nil, err
	}
	if t.probe, err = newProbe(t.client, probeSpec{label: t.label, marker: InProcessMarker(), dirs: []string{dir}}); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

type inProcess struct {
	desc     string
	cfg      fetcher.Config
	settings Settings
	client   *Client
	srv      *http.Server
	served   chan struct{}
	probe    probe.Source
	label    string // pprof label value of every goroutine of this target

	mu sync.RWMutex
	f  *fetcher.Fetcher
	h  http.Handler
}

func (t *inProcess) serve(w http.ResponseWriter, r *http.Request) {
	t.mu.RLock()
	h := t.h
	t.mu.RUnlock()
	if h == nil {
		http.Error(w, `{"error":"restarting"}`, http.StatusServiceUnavailable)
		return
	}
	h.ServeHTTP(w, r)
}

func (t *inProcess) start(ctx context.Context) error {
	var f *fetcher.Fetcher
	var err error
	// Started under the target's pprof label: every goroutine the fetcher
	// starts inherits it, which is how the probe counts them exactly.
	t.do(ctx, func(ctx context.Context) {
		if f, err = fetcher.New(t.cfg); err == nil {
			err = f.Boot(context.WithoutCancel(ctx))
		}
	})
	if err != nil {
		if f != nil {
			_ = f.Close()
		}
		return fmt.Errorf("in-process target: %w", err)
	}
	t.mu.Lock()
	t.f, t.h = f, f.Handler()
	t.mu.Unlock()
	return nil
}

func (t *inProcess) stop() error {
	t.mu.Lock()
	f := t.f
	t.f, t.h = nil, nil
	t.mu.Unlock()
	if f == nil {
		return nil
	}
	return f.Close()
}

func (t *inProcess) Describe() string    { return t.desc }
func (t *inProcess) Client() *Client     { return t.client }
func (t *inProcess) Settings() Settings  { return t.settings }
func (t *inProcess) Probe() probe.Source { return t.probe }
func (t *inProcess) BaseDir() string     { return t.cfg.BaseDir }
func (t *inProcess) InProcess() bool     { return true }

// Fetcher is the running fetcher (nil while restarting).
func (t *inProcess) Fetcher() *fetcher.Fetcher {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.f
}

func (t *inProcess) Restart(ctx context.Context, kill bool) error {
	if err := t.stop(); err != nil {
		return fmt.Errorf("in-process target: stop for restart: %w", err)
	}
	return t.start(ctx)
}

func (t *inProcess) Close() error {
	errStop := t.stop()
	t.client.CloseIdleConnections()
	if t.probe != nil {
		closeProbe(t.probe)
	}
	errSrv := t.srv.Close()
	<-t.served
	if errors.Is(errSrv, http.ErrServerClosed) {
		errSrv = nil
	}
	errRm := os.RemoveAll(t.cfg.BaseDir)
	return errors.Join(errStop, errSrv, errRm)
}

var labels atomic.Int64

func nextLabel() string { return fmt.Sprintf("t%d", labels.Add(1)) }

// do runs fn with the target's pprof label set.
func (t *inProcess) do(ctx context.Context, fn func(context.Context)) {
	pprof.Do(ctx, pprof.Labels(targetLabel, t.label), fn)
}

// GoroutineStacks implements StackDumper.
func (t *inProcess) GoroutineStacks() (map[string]int, error) {
	return labelledGoroutines{value: t.label}.Stacks()
}
