// Package toxiembed runs a toxiproxy API server inside this process, on a
// loopback port of its own, so that the local testbed drives its proxies
// through the same HTTP API (and the same Go client) as a toxiproxy
// container. The custom "stall" toxic is registered before it serves.
package toxiembed

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	toxiclient "github.com/Shopify/toxiproxy/v2/client"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/gitchaos/gitchaos/harness/faults/stalltoxic"
)

// Server is an in-process toxiproxy API server.
type Server struct {
	// URL is the API's base URL, http://127.0.0.1:PORT.
	URL string

	api    *toxiproxy.ApiServer
	http   *http.Server
	ln     net.Listener
	client *toxiclient.Client
	done   chan struct{}
}

// Start serves a fresh toxiproxy API on 127.0.0.1:0. ctx bounds only the
// start; stop the server with Close.
func Start(ctx context.Context) (*Server, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("toxiembed: start: %w", err)
	}
	stalltoxic.Register()
	api := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("toxiembed: listen: %w", err)
	}
	s := &Server{
		URL:  "http://" + ln.Addr().String(),
		api:  api,
		ln:   ln,
		done: make(chan struct{}),
		http: &http.Server{
			Handler:           &oneAtATime{h: api.Routes()},
			ReadHeaderTimeout: 15 * time.Second,
			IdleTimeout:       60 * time.Second,
		},
	}
	s.client = toxiclient.NewClient(s.URL)
	go func() {
		defer close(s.done)
		_ = s.http.Serve(ln) // returns http.ErrServerClosed after Close
	}()
	return s, nil
}

// oneAtATime serves one API request at a time. toxiproxy v2.12.0's
// handlers race with each other: ProxyShow marshals a proxy's Enabled and
// Listen without its lock while ProxyUpdate (a flapping fault, a
// blackhole) sets them; the race detector caught it under `gitchaos fault
// add --flap` with a listing beside it. API requests are few and quick,
// and Update's own goroutine (listen) is done before Update returns.
type oneAtATime struct {
	mu sync.Mutex
	h  http.Handler
}

func (o *oneAtATime) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.h.ServeHTTP(w, r)
}

// Client returns a toxiproxy client for this server.
func (s *Server) Client() *toxiclient.Client { return s.client }

// Close stops every proxy (closing their listeners and connections), then
// the API server. It is safe to call more than once.
func (s *Server) Close() error {
	// ApiServer.Shutdown would stop only the API: the proxies live in the
	// collection and keep their listeners until it is cleared (DESIGN.md).
	// Remove every toxic first: stopping a proxy closes its connections
	// but leaves toxics that hold their goroutine (a stall, a blackhole)
	// running, and nothing would ever interrupt them afterwards.
	for _, p := range s.api.Collection.Proxies() {
		p.Toxics.ResetToxics(context.Background())
	}
	var errs []error
	if err := s.api.Collection.Clear(); err != nil {
		errs = append(errs, fmt.Errorf("toxiembed: clear proxies: %w", err))
	}
	if err := s.http.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		errs = append(errs, fmt.Errorf("toxiembed: close api: %w", err))
	}
	<-s.done
	return errors.Join(errs...)
}

// UpstreamLeaks are the toxiproxy goroutines (v2.12.0) that can outlive
// their proxy, for a goleak check of a process that embeds this server:
//   - BandwidthToxic.Pipe: a client aborting under a bandwidth toxic leaves
//     the toxic blocked on its output channel (DESIGN.md, "Known facts");
//   - NoopToxic.Pipe: a toxic added to a link while its connection closes
//     (ToxicLink.AddToxic) leaves the link's noop stub sending to the
//     closed stub's channel;
//   - ChanWriter.Write on top of ToxicLink.read: the link's reader behind
//     such a stuck stub, blocked handing the bytes it already read to the
//     chain's input channel (seen once in make test, 2026-12-06). A link
//     whose connection is still open blocks in its conn's Read instead,
//     so a proxy left running still fails.
//
// Only these functions are named; any other goroutine still fails.
func UpstreamLeaks() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2/toxics.(*BandwidthToxic).Pipe"),
		goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2/toxics.(*NoopToxic).Pipe"),
		goleak.IgnoreTopFunction("github.com/Shopify/toxiproxy/v2/stream.(*ChanWriter).Write"),
	}
}
