package fetcher

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseEnvDefaultsAndFlagsWin(t *testing.T) {
	env := envOf(map[string]string{
		"SCOPES_GIT_FETCH_TIMEOUT":  "2.5",
		"SCOPES_GIT_MAX_WORKERS":    "7",
		"SCOPES_SYNC_CONCURRENCY":   "3",
		"SCOPES_REPO_CLONES_SHARDS": "4",
		"REFFETCHER_MUTANTS":        "serial-sync",
	})
	o, err := parse([]string{"--base-dir", "/tmp/x", "--max-workers", "9"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.GitTimeout != 2500*time.Millisecond || c.MaxWorkers != 9 || c.SyncConcurrency != 3 || c.Shards != 4 {
		t.Fatalf("config %+v; want timeout 2.5s (env), workers 9 (flag), sync 3, shards 4", c)
	}
	if len(c.Mutants) != 1 || c.Mutants[0] != "serial-sync" {
		t.Fatalf("mutants %v from the environment", c.Mutants)
	}
	o, err = parse([]string{"--base-dir", "d", "--git-timeout", "0", "--mutant", "no-timeout", "--mutant", "serial-sync,shared-pool"}, envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.cfg.GitTimeout != NoTimeout || len(o.cfg.Mutants) != 3 {
		t.Fatalf("--git-timeout 0 -> %v, mutants %v", o.cfg.GitTimeout, o.cfg.Mutants)
	}
}

func TestBadFlagsExit2NamingTheFlag(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{}, nil, "--base-dir"},
		{[]string{"--base-dir", "d", "--max-workers", "0"}, nil, "--max-workers"},
		{[]string{"--base-dir", "d", "--git-timeout", "soon"}, nil, "git-timeout"},
		{[]string{"--base-dir", "d", "--mutant", "nope"}, nil, "nope"},
		{[]string{"--base-dir", "d"}, map[string]string{"SCOPES_GIT_MAX_WORKERS": "many"}, "SCOPES_GIT_MAX_WORKERS"},
		{[]string{"--base-dir", "d", "--bogus"}, nil, "bogus"},
	}
	for _, c := range cases {
		var stderr bytes.Buffer
		code := RunCommand(context.Background(), c.args, envOf(c.env), io.Discard, &stderr, nil)
		if code != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v %v: exit %d, stderr %q; want 2 naming %s", c.args, c.env, code, stderr.String(), c.want)
		}
	}
}

func TestListMutants(t *testing.T) {
	var out bytes.Buffer
	if code := RunCommand(context.Background(), []string{"--list-mutants"}, envOf(nil), &out, io.Discard, nil); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if lines := strings.Count(out.String(), "\n"); lines != len(Mutants()) {
		t.Fatalf("%d lines for %d mutants:\n%s", lines, len(Mutants()), out.String())
	}
}

func TestServesAndShutsDown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	exit := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		exit <- RunCommand(ctx, []string{"--listen", "127.0.0.1:0", "--base-dir", t.TempDir(), "--log-level", "warn"}, envOf(nil), io.Discard, &stderr, ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case code := <-exit:
		t.Fatalf("exited %d before serving: %s", code, stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatal("not serving after 10s")
	}
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + addr + "/healthcheck")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "scopes_total") {
		t.Fatalf("healthcheck: HTTP %d: %s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest(http.MethodPut, "http://"+addr+"/scopes", strings.NewReader(`{"scope_id":"../x","policy":{"url":"http://h/r.git"}}`))
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("bad scope: HTTP %d, want 422", resp.StatusCode)
	}
	client.CloseIdleConnections()
	cancel()
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("exit %d after SIGTERM-like cancel: %s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no graceful shutdown within 15s")
	}
}
