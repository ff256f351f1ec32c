package main

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gitchaos/gitchaos/harness/eventually/eventuallytest"
)

// The test binary runs main itself when asked, so the tests drive the real
// process: flags, environment, signals and exit status.
func TestMain(m *testing.M) {
	if os.Getenv("REFFETCHER_TEST_RUN_MAIN") == "1" {
		os.Args = append([]string{"reffetcher"}, strings.Fields(os.Getenv("REFFETCHER_TEST_ARGS"))...)
		main()
		return
	}
	goleak.VerifyTestMain(m)
}

func command(t *testing.T, args string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "REFFETCHER_TEST_RUN_MAIN=1", "REFFETCHER_TEST_ARGS="+args), env...)
	return cmd
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestProcessServesAndStopsOnSIGTERM(t *testing.T) {
	addr := freeAddr(t)
	cmd := command(t, "--listen "+addr+" --base-dir "+t.TempDir(), "SCOPES_GIT_FETCH_TIMEOUT=2.5")
	var stderr lockedBuffer // written by exec's copier while the test reads it
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	})
	client := &http.Client{Transport: &http.Transport{}, Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	eventuallytest.Require(t, 20*time.Second, "/healthcheck answers 200 (stderr: "+stderr.String()+")", func() (bool, any) {
		resp, err := client.Get("http://" + addr + "/healthcheck")
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	client.CloseIdleConnections()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v; stderr: %s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no graceful shutdown within 15s of SIGTERM")
	}
	if !strings.Contains(stderr.String(), "shutting down") {
		t.Fatalf("no shutdown log: %s", stderr.String())
	}
}

// lockedBuffer is a bytes.Buffer safe to read while a process's output
// is copied into it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestProcessBadFlagExits2(t *testing.T) {
	cmd := command(t, "--base-dir "+t.TempDir()+" --sync-concurrency 0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(stderr.String(), "--sync-concurrency") {
		t.Fatalf("bad flag: %v, stderr %q; want exit 2 naming --sync-concurrency", err, stderr.String())
	}
}
