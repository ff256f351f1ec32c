package target

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gitchaos/gitchaos/harness/probe"
)

// Server is a server that runs inside this process as an in-process
// target: its HTTP handler (the scopes API), and Close, which stops it and
// releases everything it holds. The reference fetcher is one; its factory
// is harness/fetcher/inprocess.
type Server interface {
	Handler() http.Handler
	Close() error
}

// InProcessSpec says how to run a Server as an in-process target.
type InProcessSpec struct {
	// Describe says what the target is, e.g. "in-process reffetcher (correct)".
	Describe string
	// TempDir is the parent of the base dir ("" = os.TempDir()).
	TempDir string
	// BaseDirPattern names the base dir as os.MkdirTemp's pattern does
	// ("" = "gitchaos-inprocess-*").
	BaseDirPattern string
	// Start makes the server on baseDir with the settings and returns
	// once it may serve (after its boot sync, if it has one). It runs
	// under the target's pprof label, so every goroutine it starts is
	// counted as the target's. Restart and ColdStart call it again on the
	// same base dir, after closing the previous server.
	Start func(ctx context.Context, baseDir string, s Settings) (Server, error)
}

// StartInProcess runs a Server in this process as a target, on its own
// temp base dir and 127.0.0.1 port: its goroutines are counted exactly
// (those carrying its pprof label), its git children are the processes
// carrying InProcessMarker, and Close removes the base dir.
func StartInProcess(ctx context.Context, s Settings, spec InProcessSpec) (Target, error) {
	if spec.Start == nil {
		return nil, errors.New("in-process target: no Start function")
	}
	pattern := spec.BaseDirPattern
	if pattern == "" {
		pattern = "gitchaos-inprocess-*"
	}
	dir, err := os.MkdirTemp(spec.TempDir, pattern)
	if err != nil {
		return nil, fmt.Errorf("in-process target: base dir: %w", err)
	}
	t := &inProcess{spec: spec, dir: dir, settings: s, label: nextLabel()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("in-process target: listen: %w", err)
	}
	t.client = &Client{BaseURL: "http://" + ln.Addr().String(), HTTP: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	t.httpSrv = &http.Server{Handler: http.HandlerFunc(t.serve), ReadHeaderTimeout: 5 * time.Second}
	t.served = make(chan struct{})
	go func() {
		defer close(t.served)
		t.do(context.Background(), func(context.Context) { _ = t.httpSrv.Serve(ln) })
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
	spec     InProcessSpec
	dir      string // base dir
	settings Settings
	client   *Client
	httpSrv  *http.Server
	served   chan struct{}
	probe    probe.Source
	label    string // pprof label value of every goroutine of this target

	mu  sync.RWMutex
	srv Server       // nil while restarting
	h   http.Handler // srv's handler
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
	var srv Server
	var err error
	// Started under the target's pprof label: every goroutine the server
	// starts inherits it, which is how the probe counts them exactly.
	t.do(ctx, func(ctx context.Context) { srv, err = t.spec.Start(ctx, t.dir, t.settings) })
	if err != nil {
		return fmt.Errorf("in-process target: %w", err)
	}
	t.mu.Lock()
	t.srv, t.h = srv, srv.Handler()
	t.mu.Unlock()
	return nil
}

func (t *inProcess) stop() error {
	t.mu.Lock()
	srv := t.srv
	t.srv, t.h = nil, nil
	t.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Close()
}

func (t *inProcess) Describe() string    { return t.spec.Describe }
func (t *inProcess) Client() *Client     { return t.client }
func (t *inProcess) Settings() Settings  { return t.settings }
func (t *inProcess) Probe() probe.Source { return t.probe }
func (t *inProcess) BaseDir() string     { return t.dir }
func (t *inProcess) InProcess() bool     { return true }

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
	errSrv := t.httpSrv.Close()
	<-t.served
	if errors.Is(errSrv, http.ErrServerClosed) {
		errSrv = nil
	}
	errRm := os.RemoveAll(t.dir)
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
