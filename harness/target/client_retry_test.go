package target

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// TestClientSendsPutAgainOnAClosedKeepAlive: a server that answers one
// request on a kept-alive connection and then resets it when the next
// request arrives (uvicorn closing an idle connection as the client
// reuses it) costs a PUT and a DELETE nothing: the transport sends them
// again on a new connection. A POST (refresh) is not sent twice.
func TestClientSendsPutAgainOnAClosedKeepAlive(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns, served atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func(c net.Conn) {
				defer c.Close()
				br := bufio.NewReader(c)
				for n := 0; ; n++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					if n == 1 { // the second request on this connection: reset
						_ = c.(*net.TCPConn).SetLinger(0)
						return
					}
					served.Add(1)
					resp := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"
					if req.Method == http.MethodDelete {
						resp = "HTTP/1.1 204 No Content\r\n\r\n"
					}
					if _, err := c.Write([]byte(resp)); err != nil {
						return
					}
				}
			}(c)
		}
	}()
	c := &Client{BaseURL: "http://" + ln.Addr().String()}
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, call := range []struct {
		name string
		do   func() error
	}{
		{"put", func() error { return c.PutScope(ctx, NewScope("a", "http://h/r", "main")) }},
		{"put again", func() error { return c.PutScope(ctx, NewScope("a", "http://h/r", "main")) }},
		{"delete", func() error { return c.DeleteScope(ctx, "a") }},
	} {
		if err := call.do(); err != nil {
			t.Fatalf("%s (request %d): %v", call.name, i+1, err)
		}
	}
	if got := served.Load(); got != 3 {
		t.Errorf("served %d requests, want 3", got)
	}
	if got := conns.Load(); got != 3 {
		t.Errorf("%d connections, want 3 (two reused ones reset, each request sent again)", got)
	}
	if err := c.RefreshAll(ctx); err == nil {
		t.Errorf("refresh-all on a reset kept-alive connection: no error; a POST must not be sent twice")
	}
}
