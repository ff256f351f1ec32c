package fetcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// The inactivity-timeout mutant needs to see the bytes of a git
// operation arrive. go-git has no per-call HTTP client, so the fetcher
// installs, once at start-up (its protocol table has no lock), a client
// for http and https whose transport is http.DefaultTransport itself,
// wrapped: a request whose context carries a progress hook (withProgress)
// calls it when the answer's headers arrive and on every read that
// returns data. Without a hook (the correct fetcher, every other mutant)
// the wrapper passes the answer through untouched.
func init() {
	c := githttp.NewClient(&http.Client{Transport: progressTransport{base: http.DefaultTransport}})
	client.InstallProtocol("http", c)
	client.InstallProtocol("https", c)
}

type progressKey struct{}

// withProgress returns ctx carrying fn, called whenever an HTTP request
// made with it receives data.
func withProgress(ctx context.Context, fn func()) context.Context {
	return context.WithValue(ctx, progressKey{}, fn)
}

// progressTransport calls the request context's progress hook, if any.
type progressTransport struct{ base http.RoundTripper }

func (t progressTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	fn, _ := req.Context().Value(progressKey{}).(func())
	resp, err := t.base.RoundTrip(req)
	if fn != nil && resp != nil && resp.Body != nil {
		fn()
		resp.Body = &progressBody{ReadCloser: resp.Body, fn: fn}
	}
	return resp, err
}

type progressBody struct {
	io.ReadCloser
	fn func()
}

func (b *progressBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.fn()
	}
	return n, err
}

// errInactive is the cause an inactivity timer cancels its operation with.
var errInactive = errors.New("no data received for the timeout")

// inactivityRunner is the inactivity-timeout mutant: the timeout is an
// inactivity (low-speed) abort, as git's http.lowSpeedLimit/lowSpeedTime
// or a per-read socket timeout are: op is canceled once no data has
// arrived for the timeout, and every read that brings data starts the
// wait again. A stall (nothing arrives) ends at the timeout; a transfer
// that trickles runs as long as the trickle lasts.
type inactivityRunner struct {
	f       *Fetcher
	timeout time.Duration // <= 0: none
}

func (r inactivityRunner) run(ctx context.Context, pool gitPool, host string, op func(context.Context) error, _ func()) error {
	return pool.do(ctx, host, func() error {
		opCtx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		if r.timeout > 0 {
			idle := time.AfterFunc(r.timeout, func() { cancel(errInactive) })
			defer idle.Stop()
			opCtx = withProgress(opCtx, func() { idle.Reset(r.timeout) })
		}
		r.f.inFlight.Add(1)
		err := op(opCtx)
		r.f.inFlight.Add(-1)
		if err != nil && ctx.Err() == nil && errors.Is(context.Cause(opCtx), errInactive) {
			return fmt.Errorf("%w: %w: no data for %v", errHostFailure, errTimeout, r.timeout)
		}
		return classify(ctx, opCtx, r.timeout, err)
	})
}
