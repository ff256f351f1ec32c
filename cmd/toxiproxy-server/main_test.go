package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
	"go.uber.org/goleak"

	"github.com/gitchaos/gitchaos/harness/eventually/eventuallytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// build compiles the server statically, as the image does.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "toxiproxy-server")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestServer runs the binary, drives it through toxiproxy's own client and
// checks that the stall toxic is known, that a connection through a proxy
// reaches its upstream, and that SIGTERM stops it cleanly.
func TestServer(t *testing.T) {
	bin := build(t)

	out, err := exec.Command(bin, "-version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "2.12.0") || !strings.Contains(string(out), "stall") {
		t.Fatalf("-version: %v: %q, want toxiproxy 2.12.0 with the stall toxic", err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	port := freePort(t)
	cmd := exec.CommandContext(ctx, bin, "-host", "127.0.0.1", "-port", strconv.Itoa(port))
	cmd.Env = append(cmd.Environ(), "LOG_LEVEL=warn")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(bufio.NewReader(stdout))
		logs <- string(b)
	}()
	exited := false
	t.Cleanup(func() {
		if !exited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})

	client := toxiclient.NewClient("http://127.0.0.1:" + strconv.Itoa(port))
	eventuallytest.Require(t, 20*time.Second, "the API up", func() (bool, any) {
		_, err := client.Proxies()
		return err == nil, err
	})

	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	go func() {
		c, err := up.Accept()
		if err != nil {
			return
		}
		_, _ = c.Write([]byte("hello\n"))
		c.Close()
	}()
	p, err := client.CreateProxy("h0", "127.0.0.1:0", up.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.AddToxic("s", "stall", "downstream", 1, toxiclient.Attributes{"bytes": 3}); err != nil {
		t.Fatalf("add stall toxic: %v (is the custom toxic registered?)", err)
	}
	if _, err := p.AddToxic("x", "no-such-toxic", "downstream", 1, nil); err == nil {
		t.Fatal("unknown toxic type accepted: the registry check above proves nothing")
	}
	// The stall lets 3 bytes through, then holds the rest until removed.
	conn, err := net.Dial("tcp", p.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	buf := make([]byte, 3)
	if _, err := io.ReadFull(r, buf); err != nil || string(buf) != "hel" {
		t.Fatalf("first bytes through the stall = %q, %v; want \"hel\"", buf, err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if b, err := r.ReadByte(); err == nil {
		t.Fatalf("read %q past the stall", b)
	}
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := p.RemoveToxic("s"); err != nil {
		t.Fatal(err)
	}
	rest, err := r.ReadString('\n')
	if err != nil || rest != "lo\n" {
		t.Fatalf("after removing the stall: %q, %v; want \"lo\\n\"", rest, err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	exited = true
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatalf("exit after SIGTERM: %v; logs:\n%s", err, <-logs)
	}
	<-logs // the reader ends with the process
}
