package target

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawServer accepts TCP connections and hands each to serve; Close stops
// it and waits for every handler.
type rawServer struct {
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	conn []net.Conn
	stop chan struct{}
}

func newRawServer(t *testing.T, serve func(c net.Conn, stop <-chan struct{})) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln, stop: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conn = append(s.conn, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				serve(c, s.stop)
			}()
		}
	}()
	t.Cleanup(func() {
		close(s.stop)
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conn {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *rawServer) URL() string { return "http://" + s.ln.Addr().String() }

// readRequest reads one request's head.
func readRequest(c net.Conn) {
	buf := make([]byte, 4096)
	var got []byte
	for !strings.Contains(string(got), "\r\n\r\n") {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		got = append(got, buf[:n]...)
	}
}

// hostileClient has a short deadline so each case ends quickly; a new
// transport per test so no connection is reused across servers.
func hostileClient(t *testing.T, url string) *Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &Client{BaseURL: url, HTTP: &http.Client{Transport: tr}, Timeout: 500 * time.Millisecond, MaxBody: 1 << 20}
}

// within fails t when f takes longer than d (the client's deadline plus slack).
func within(t *testing.T, d time.Duration, f func() error) error {
	t.Helper()
	start := time.Now()
	err := f()
	if took := time.Since(start); took > d {
		t.Errorf("took %v, want <= %v (the request deadline must hold)", took, d)
	}
	return err
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q lacks %q", err, p)
		}
	}
}

// TestClientHostileTargets: each bad answer is an error naming the request
// and what was wrong, within the request deadline.
func TestClientHostileTargets(t *testing.T) {
	ctx := context.Background()
	const budget = 3 * time.Second // 500 ms deadline + slack for a loaded machine

	t.Run("accepts and never answers", func(t *testing.T) {
		s := newRawServer(t, func(c net.Conn, stop <-chan struct{}) { readRequest(c); <-stop })
		err := within(t, budget, func() error { _, err := hostileClient(t, s.URL()).Health(ctx); return err })
		wantErr(t, err, "GET /healthcheck", "500ms request deadline")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
		}
	})
	t.Run("headers then a body that never ends", func(t *testing.T) {
		s := newRawServer(t, func(c net.Conn, stop <-chan struct{}) {
			readRequest(c)
			fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"manif")
			<-stop
		})
		err := within(t, budget, func() error { _, err := hostileClient(t, s.URL()).Policy(ctx, "s1"); return err })
		wantErr(t, err, "GET /scopes/s1/policy", "HTTP 200", "read body (after 7 bytes)", "request deadline")
	})
	t.Run("closes mid-body", func(t *testing.T) {
		s := newRawServer(t, func(c net.Conn, stop <-chan struct{}) {
			readRequest(c)
			fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{\"scope_id\":")
			c.Close()
		})
		err := within(t, budget, func() error { _, err := hostileClient(t, s.URL()).Scopes(ctx); return err })
		wantErr(t, err, "GET /scopes", "read body (after 13 bytes)", "unexpected EOF")
	})
	t.Run("huge body", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			chunk := []byte(strings.Repeat(" ", 64<<10))
			for i := 0; i < 1<<12; i++ { // 256 MiB unless the client stops reading
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}))
		defer srv.Close()
		err := within(t, budget, func() error { _, err := hostileClient(t, srv.URL).Stats(ctx); return err })
		wantErr(t, err, "GET "+StatsPath, "larger than 1048576 bytes")
	})
	t.Run("huge error body", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, strings.Repeat("e", 100<<10))
		}))
		defer srv.Close()
		err := hostileClient(t, srv.URL).RefreshAll(ctx)
		if !IsStatus(err, 500) || len(err.Error()) > 2100 {
			t.Errorf("error (%d bytes) = %.200q..., want a StatusError 500 with the body cut to 2000 bytes", len(err.Error()), err)
		}
	})
	for _, tc := range []struct {
		name, path, body string
		call             func(c *Client) error
		field, got, want string
	}{
		{"policy manifest a string", "/scopes/s1/policy", `{"manifest":"a.rego","hash":"x"}`,
			func(c *Client) error { _, err := c.Policy(ctx, "s1"); return err }, "manifest", "string", "[]string"},
		{"policy hash a number", "/scopes/s1/policy", `{"manifest":[],"hash":12}`,
			func(c *Client) error { _, err := c.Policy(ctx, "s1"); return err }, "hash", "number", "string"},
		{"scopes an object", "/scopes", `{"scope_id":"s1"}`,
			func(c *Client) error { _, err := c.Scopes(ctx); return err }, "", "object", "[]json.RawMessage"},
		{"scope id a number", "/scopes", `[{"scope_id":"s0"},{"scope_id":7}]`,
			func(c *Client) error { _, err := c.Scopes(ctx); return err }, "[1].scope_id", "number", "string"},
		{"healthcheck an array", "/healthcheck", `[1,2]`,
			func(c *Client) error { _, err := c.Health(ctx); return err }, "", "array", "map[string]interface {}"},
		{"scope a string", "/scopes/s1", `"s1"`,
			func(c *Client) error { _, err := c.Scope(ctx, "s1"); return err }, "", "string", "map[string]interface {}"},
		{"stats malformed", StatsPath, `{"a":1,`,
			func(c *Client) error { _, err := c.Stats(ctx); return err }, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != tc.path {
					http.NotFound(w, r)
					return
				}
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			err := tc.call(hostileClient(t, srv.URL))
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v (%T), want a *DecodeError", err, err)
			}
			if !strings.Contains(err.Error(), "GET "+tc.path) || de.Field != tc.field || de.Got != tc.got || de.Want != tc.want {
				t.Errorf("error %q: field %q got %q want %q; want field %q got %q want %q", err, de.Field, de.Got, de.Want, tc.field, tc.got, tc.want)
			}
		})
	}
}
