package probe_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/harness/probe"
)

// TestHTTPStatsHostile: a stats endpoint that never answers, streams an
// endless body or answers the wrong JSON is an error (or an unavailable
// metric with the reason) within the request deadline, with a caller's
// client without a timeout too.
func TestHTTPStatsHostile(t *testing.T) {
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(io.Discard, c) }) // reads, never answers
		}
	})
	defer func() {
		close(stop)
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	noTimeout := &http.Client{Transport: tr} // the deadline must come from the source
	src, err := probe.HTTPStats("http://"+ln.Addr().String()+"/stats", probe.HTTPOptions{Client: noTimeout, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = src.Sample(ctx)
	if err == nil || time.Since(start) > 3*time.Second {
		t.Errorf("never-answering endpoint: err %v after %v, want an error within ~300ms", err, time.Since(start))
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/huge":
			chunk := []byte(strings.Repeat(" ", 64<<10))
			for i := 0; i < 1<<12; i++ {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		case "/array":
			_, _ = io.WriteString(w, `[1,2]`)
		case "/types":
			_, _ = io.WriteString(w, `{"repos":"3","goroutines":null,"fds":[1],"in_flight":2}`)
		}
	}))
	defer srv.Close()
	for path, want := range map[string]string{"/huge": "larger than", "/array": "want an object"} {
		s, err := probe.HTTPStats(srv.URL+path, probe.HTTPOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Sample(ctx); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want one naming the url and %q", path, err, want)
		}
		s.(interface{ Close() error }).Close()
	}
	s, err := probe.HTTPStats(srv.URL+"/types", probe.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.(interface{ Close() error }).Close()
	smp, err := s.Sample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := smp.Get("in_flight"); !ok || v != 2 {
		t.Errorf("in_flight = %v, %v; want 2", v, ok)
	}
	for key, typ := range map[string]string{"repos": "string", probe.Goroutines: "null", probe.FDs: "array"} {
		if _, ok := smp.Get(key); ok {
			t.Errorf("%s measured from a JSON %s", key, typ)
		}
		if why := smp.Unavailable[key]; !strings.Contains(why, `"`+key+`" is JSON `+typ+", want a number") {
			t.Errorf("%s unavailable because %q, want the key and its type named", key, why)
		}
	}
}
