package toxiembed_test

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
	"go.uber.org/goleak"

	"github.com/gitchaos/gitchaos/harness/faults/stalltoxic"
	"github.com/gitchaos/gitchaos/harness/testbed/toxiembed"
	"github.com/gitchaos/gitchaos/internal/race"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echo is an upstream that writes n bytes to every connection and keeps it
// open until the peer closes.
func echo(t *testing.T, n int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = c.Write(make([]byte, n))
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

func refused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
		return false
	}
	return strings.Contains(err.Error(), "refused")
}

// Close with a stalled connection in flight stops the API and every proxy
// and leaves no goroutine (goleak in TestMain), also the stall toxic's.
func TestCloseWithStalledConnection(t *testing.T) {
	up := echo(t, 64<<10)
	s, err := toxiembed.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Client().CreateProxy("h0", "127.0.0.1:0", up)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.AddToxic("st", stalltoxic.TypeName, "downstream", 1, toxiclient.Attributes{"bytes": 1000}); err != nil {
		t.Fatalf("add stall toxic: %v", err)
	}
	c, err := net.Dial("tcp", p.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, 1000)); err != nil {
		t.Fatalf("first 1000 bytes: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("read past the stall point: %d bytes, err %v", n, err)
	}

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	for _, a := range []string{strings.TrimPrefix(s.URL, "http://"), p.Listen} {
		if !refused(a) {
			t.Errorf("%s still accepts connections after Close", a)
		}
	}
	// The proxied connection is closed too.
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, c); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Errorf("proxied connection after Close: %v", err)
	}
}

// TestAPIRequestsDoNotRace: a proxy disabled and enabled over the API
// while another client reads it, as a flapping fault beside `gitchaos
// fault list` does. toxiproxy's handlers race with each other (ProxyShow
// reads what ProxyUpdate writes, unlocked); the server serves one request
// at a time, and the race detector sees nothing. Without -race there is
// nothing to see.
func TestAPIRequestsDoNotRace(t *testing.T) {
	if !race.Enabled {
		t.Skip("needs -race: the race detector is what sees the handlers race")
	}
	up := echo(t, 1)
	s, err := toxiembed.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, err := s.Client().CreateProxy("h0", "127.0.0.1:0", up)
	if err != nil {
		t.Fatal(err)
	}
	reader := toxiclient.NewClient(s.URL)
	done := make(chan error, 1)
	go func() {
		for i := 0; i < 100; i++ {
			if _, err := reader.Proxy("h0"); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for i := 0; i < 50; i++ {
		if err := p.Disable(); err != nil {
			t.Fatalf("disable: %v", err)
		}
		if err := p.Enable(); err != nil {
			t.Fatalf("enable: %v", err)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("read the proxy while it flapped: %v", err)
	}
}
