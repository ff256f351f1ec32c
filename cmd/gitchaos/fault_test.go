package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/harness/eventually"
	"github.com/gitchaos/gitchaos/harness/faults"
	"github.com/gitchaos/gitchaos/harness/testbed/toxiembed"
)

// runFault runs `gitchaos fault args...` and returns exit code and output.
func runFault(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cmdFault(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// toxiFixture is an in-process toxiproxy with proxies h0 and h1 in front of
// a listener that accepts and holds connections.
func toxiFixture(t *testing.T) *toxiembed.Server {
	t.Helper()
	srv, err := toxiembed.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	for _, h := range []string{"h0", "h1"} {
		if _, err := srv.Client().CreateProxy(h, "127.0.0.1:0", up.Addr().String()); err != nil {
			t.Fatal(err)
		}
	}
	return srv
}

func listJSON(t *testing.T, args ...string) FaultListing {
	t.Helper()
	code, out, errs := runFault(t, append([]string{"list", "--json"}, args...)...)
	if code != exitOK {
		t.Fatalf("fault list: exit %d: %s", code, errs)
	}
	var l FaultListing
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("fault list --json printed %q: %v", out, err)
	}
	return l
}

func hostOf(t *testing.T, l FaultListing, name string) HostFaults {
	t.Helper()
	for _, h := range l.Hosts {
		if h.Name == name {
			return h
		}
	}
	t.Fatalf("listing has no host %s: %+v", name, l)
	return HostFaults{}
}

func TestFaultAddListRm(t *testing.T) {
	srv := toxiFixture(t)
	tx := "--toxiproxy=" + srv.URL

	l := listJSON(t, tx)
	if len(l.Hosts) != 2 || len(hostOf(t, l, "h0").Toxics) != 0 || !hostOf(t, l, "h0").Enabled {
		t.Fatalf("fresh listing = %+v, want h0 and h1 enabled without toxics", l)
	}

	// Flags after the fault name are accepted too.
	if code, out, errs := runFault(t, "add", tx, "blackhole", "--host", "h0"); code != exitOK || !strings.Contains(out, "h0: blackhole") {
		t.Fatalf("add blackhole: exit %d, out %q, err %q", code, out, errs)
	}
	if code, _, errs := runFault(t, "add", tx, "--host", "h1", "latency:latency=150ms"); code != exitOK {
		t.Fatalf("add latency: exit %d: %s", code, errs)
	}
	if code, _, errs := runFault(t, "add", tx, "--host", "h1", "offline"); code != exitOK {
		t.Fatalf("add offline: exit %d: %s", code, errs)
	}
	l = listJSON(t, tx)
	if h0 := hostOf(t, l, "h0"); len(h0.Toxics) != 2 || !strings.Contains(strings.Join(h0.Toxics, " "), "timeout") {
		t.Fatalf("h0 after blackhole = %+v, want two timeout toxics", h0)
	}
	if h1 := hostOf(t, l, "h1"); h1.Enabled || !strings.Contains(strings.Join(h1.Toxics, " "), "latency=150") {
		t.Fatalf("h1 after latency+offline = %+v, want disabled with a 150ms latency toxic", h1)
	}
	// The table names the state.
	if code, out, _ := runFault(t, "list", tx); code != exitOK || !strings.Contains(out, "DISABLED") || !strings.Contains(out, "gitchaos_blackhole_") {
		t.Fatalf("fault list table: exit %d:\n%s", code, out)
	}

	if code, _, errs := runFault(t, "rm", tx, "--host", "h0", "blackhole"); code != exitOK {
		t.Fatalf("rm blackhole: exit %d: %s", code, errs)
	}
	if h0 := hostOf(t, listJSON(t, tx), "h0"); len(h0.Toxics) != 0 {
		t.Fatalf("h0 after rm blackhole = %+v, want no toxics", h0)
	}
	if code, _, errs := runFault(t, "rm", tx, "--all"); code != exitOK {
		t.Fatalf("rm --all: exit %d: %s", code, errs)
	}
	if h1 := hostOf(t, listJSON(t, tx), "h1"); !h1.Enabled || len(h1.Toxics) != 0 {
		t.Fatalf("h1 after rm --all = %+v, want enabled without toxics", h1)
	}
}

func TestFaultErrors(t *testing.T) {
	srv := toxiFixture(t)
	tx := "--toxiproxy=" + srv.URL
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{nil, exitUsage, "usage"},
		{[]string{"frob"}, exitUsage, `unknown subcommand "frob"`},
		{[]string{"add", tx, "blackhole"}, exitUsage, "--host"},
		{[]string{"add", tx, "--host", "h0", "meteor"}, exitUsage, `unknown fault "meteor"`},
		{[]string{"add", tx, "--host", "h0", "latency:latency=soon"}, exitUsage, "not a duration"},
		{[]string{"add", tx, "--host", "h9", "blackhole"}, exitFail, `no proxy "h9"`},
		{[]string{"add", tx, "--host", "h0", "--repo", "r000", "hang"}, exitUsage, `no admin URL for host "h0"`},
		{[]string{"add", tx, "--admin", "h0", "--host", "h0", "--repo", "r000", "hang"}, exitUsage, "HOST=URL"},
		{[]string{"add", tx, "--host", "h0", "hang"}, exitUsage, "hang is a repo fault: give the repo with --repo R"},
		{[]string{"add", tx, "--host", "h0", "--repo", "r000", "blackhole"}, exitUsage, "blackhole is a network fault"},
		{[]string{"add", tx, "--host", "h0", "--repo", "r000", "slow"}, exitUsage, `slow: missing key "bytes_per_sec"`},
		{[]string{"rm", tx, "--host", "h0", "hang"}, exitUsage, "hang is a repo fault: clear it with --host H --repo R"},
		{[]string{"add", "--toxiproxy=localhost:8474", "--host", "h0", "blackhole"}, exitUsage, "want http://"},
		{[]string{"rm", tx}, exitUsage, "--host"},
		{[]string{"rm", tx, "--all", "--host", "h0"}, exitUsage, "--all takes no"},
		{[]string{"list", "--toxiproxy=http://127.0.0.1:1"}, exitFail, "is the testbed or compose stack running"},
		{[]string{"list", tx, "--testbed", "/nonexistent/tb.json"}, exitUsage, "--testbed"},
	} {
		code, _, errs := runFault(t, c.args...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("fault %q: exit %d, stderr %q; want exit %d and %q", c.args, code, errs, c.code, c.want)
		}
	}
	// Nothing was changed by the failed commands.
	for _, h := range listJSON(t, tx).Hosts {
		if !h.Enabled || len(h.Toxics) != 0 {
			t.Errorf("host %+v changed by failed commands", h)
		}
	}
}

func TestFaultTestbedFile(t *testing.T) {
	srv := toxiFixture(t)
	d := Description{Kind: "docker", Toxiproxy: srv.URL, Hosts: []HostDescription{{Name: "h0", AdminURL: "http://127.0.0.1:1"}}}
	data, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "tb.json")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// The toxiproxy URL comes from the file.
	if code, _, errs := runFault(t, "add", "--testbed", file, "--host", "h1", "reset"); code != exitOK {
		t.Fatalf("add via --testbed: exit %d: %s", code, errs)
	}
	if h1 := hostOf(t, listJSON(t, "--toxiproxy="+srv.URL), "h1"); len(h1.Toxics) == 0 {
		t.Fatalf("h1 = %+v, want the reset toxic added through the file's toxiproxy URL", h1)
	}
	// So do the admin URLs (this one refuses connections).
	code, _, errs := runFault(t, "add", "--testbed", file, "--host", "h0", "--repo", "r000", "gone")
	if code != exitFail || !strings.Contains(errs, "h0/r000") {
		t.Fatalf("repo fault via --testbed admin URL: exit %d, %q; want exit 1 naming h0/r000", code, errs)
	}
	// The shipped compose description parses.
	if _, err := (&faultFlags{testbed: "../../fixtures/docker/compose-testbed.json", admins: adminFlag{}}).target(); err != nil {
		t.Fatalf("fixtures/docker/compose-testbed.json: %v", err)
	}
}

func TestFaultCatalog(t *testing.T) {
	code, out, _ := runFault(t, "catalog")
	for _, want := range []string{"blackhole", "offline", "stall", "flap", "http500", "bytes_per_sec", "repo", "network", "hang[:count=N][,op=info/refs|git-upload-pack]"} {
		if code != exitOK || !strings.Contains(out, want) {
			t.Fatalf("fault catalog: exit %d, output lacks %q:\n%s", code, want, out)
		}
	}
	code, out, _ = runFault(t, "catalog", "slow")
	if code != exitOK || !strings.Contains(out, "bytes_per_sec=N") || !strings.Contains(out, "(required)") || !strings.Contains(out, "e.g. slow:") {
		t.Fatalf("fault catalog slow: exit %d:\n%s", code, out)
	}
	if code, _, errs := runFault(t, "catalog", "quake"); code != exitUsage || !strings.Contains(errs, `unknown fault "quake"`) {
		t.Fatalf("fault catalog quake: exit %d, %q", code, errs)
	}
}

// TestFaultAddFlapRunsUntilInterrupted checks that `fault add flap` keeps
// the schedule running in the foreground and recovers the proxy when
// interrupted.
func TestFaultAddFlapRunsUntilInterrupted(t *testing.T) {
	srv := toxiFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var out, errb syncBuffer
	go func() {
		done <- cmdFault(ctx, []string{"add", "--toxiproxy=" + srv.URL, "--host", "h0", "flap:up=20ms,down=20ms"}, &out, &errb)
	}()
	// The schedule toggles the proxy: wait until it has been seen disabled.
	seen := eventually.Poll(ctx, 10*time.Second, eventually.Interval, func(context.Context) (bool, string, error) {
		p, err := srv.Client().Proxy("h0")
		if err != nil {
			return false, "", err
		}
		return !p.Enabled, fmt.Sprintf("enabled=%v", p.Enabled), nil
	})
	if !seen.OK {
		cancel()
		t.Fatalf("proxy h0 never seen disabled while flapping within 10 s (last: %s); stderr %q", seen.Describe(), errb.String())
	}
	select {
	case code := <-done:
		t.Fatalf("fault add flap returned %d before the interrupt", code)
	default:
	}
	cancel()
	if code := <-done; code != exitOK || !strings.Contains(out.String(), "h0: recovered") {
		t.Fatalf("fault add flap after interrupt: exit %d, out %q, err %q", code, out.String(), errb.String())
	}
	p, err := srv.Client().Proxy("h0")
	if err != nil || !p.Enabled {
		t.Fatalf("proxy h0 after the flap was interrupted: %+v, %v; want enabled", p, err)
	}
}

// TestFaultSpecsInDocs: every `gitchaos fault add|rm ... FAULT` in the docs
// and the usage text names a catalog fault in a form ParseSpec reads, of
// the kind its --repo says.
func TestFaultSpecsInDocs(t *testing.T) {
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	texts := map[string]string{"faultUsage": faultUsage}
	for _, f := range append(files, "../../README.md") {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		texts[f] = string(b)
	}
	cmd := regexp.MustCompile(`fault (?:add|rm) +([^\n#` + "`" + `]*)`)
	n := 0
	for file, text := range texts {
		for _, m := range cmd.FindAllStringSubmatch(text, -1) {
			words := strings.Fields(m[1])
			if len(words) == 0 {
				continue
			}
			spec := words[len(words)-1]
			if strings.HasPrefix(spec, "-") || spec == "FAULT" || spec == "all" || spec == "FAULT|all" || slices.Contains(words[:len(words)-1], "--all") {
				continue
			}
			if i := slices.Index(words, "--repo"); i >= 0 && i == len(words)-2 {
				continue // fault rm --repo R
			}
			sp, err := faults.ParseSpec(spec)
			if err != nil {
				t.Errorf("%s: fault %s: %v", file, m[1], err)
				continue
			}
			_, isRepo := sp.(faults.RepoFault)
			if isRepo != slices.Contains(words, "--repo") {
				t.Errorf("%s: fault %s: %s is a repo fault: %v, given --repo: %v", file, m[1], sp.Name(), isRepo, !isRepo)
			}
			n++
		}
	}
	if n < 5 {
		t.Errorf("found %d fault specs in the docs, want the ones docs/testbed.md shows", n)
	}
}

// TestFaultCatalogInDocs: docs/testbed.md has a table row for every fault
// of the catalog (the network table, or the admin API's mode table).
func TestFaultCatalogInDocs(t *testing.T) {
	b, err := os.ReadFile("../../docs/testbed.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range faults.Names() {
		if !strings.Contains(string(b), "\n| `"+name+"` |") {
			t.Errorf("docs/testbed.md has no table row for fault %s (| `%s` | ...)", name, name)
		}
	}
}

// TestFaultAddRepo: a repo fault goes through the host's admin API in the
// catalog's grammar, fault list shows it in that form, rm --repo clears it.
func TestFaultAddRepo(t *testing.T) {
	srv := toxiFixture(t)
	gs, err := gitserver.New(gitserver.Options{Root: t.TempDir(), Engine: gitserver.EngineGoGit})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(gs)
	t.Cleanup(func() {
		hs.Close()
		gs.Close()
	})
	ctx := context.Background()
	if _, err := gitserver.NewAdminClient(hs.URL, nil).CreateRepo(ctx, gitserver.CreateRepoRequest{Name: "r000", Seed: 1}); err != nil {
		t.Fatal(err)
	}
	target := []string{"--toxiproxy=" + srv.URL, "--admin", "h0=" + hs.URL}
	if code, out, errs := runFault(t, append([]string{"add", "--host", "h0", "--repo", "r000", "hang:op=git-upload-pack,count=2"}, target...)...); code != exitOK || !strings.Contains(out, "h0/r000: hang") {
		t.Fatalf("add hang: exit %d, out %q, err %q", code, out, errs)
	}
	l := listJSON(t, target...)
	if len(l.Repos) != 1 || l.Repos[0].Fault != (gitserver.Fault{Mode: gitserver.FaultHang, Count: 2, Op: gitserver.OpUploadPack}) {
		t.Fatalf("repos after add = %+v", l.Repos)
	}
	if code, out, _ := runFault(t, append([]string{"list"}, target...)...); code != exitOK || !strings.Contains(out, "hang:count=2,op=git-upload-pack") {
		t.Fatalf("fault list table: exit %d:\n%s", code, out)
	}
	if code, _, errs := runFault(t, append([]string{"rm", "--host", "h0", "--repo", "r000"}, target...)...); code != exitOK {
		t.Fatalf("rm --repo: exit %d: %s", code, errs)
	}
	if l := listJSON(t, target...); len(l.Repos) != 0 {
		t.Fatalf("repos after rm = %+v", l.Repos)
	}
}
