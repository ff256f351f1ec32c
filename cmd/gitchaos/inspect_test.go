package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gitchaos/gitchaos/harness/forensics"
)

func runInspect(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"inspect"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// sleeper starts a real process to inspect.
func sleeper(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd.Process.Pid
}

// TestInspectSnapshotAndDiff: inspect a real process, save two snapshots
// around 3 new debris files under its base dir, and diff them.
func TestInspectSnapshotAndDiff(t *testing.T) {
	pid := strconv.Itoa(sleeper(t))
	dir := t.TempDir()
	code, out, errs := runInspect(t, "--pid", pid, "--base-dir", dir)
	if code != exitOK || !strings.Contains(out, "gitchaos inspect: pid "+pid+" (sleep)") || !strings.Contains(out, "sleep 60") ||
		!strings.Contains(out, "groups by signature") {
		t.Fatalf("inspect --pid: exit %d\n%s%s", code, out, errs)
	}
	save := func(name string) string {
		code, out, errs := runInspect(t, "--pid", pid, "--base-dir", dir, "--json")
		if code != exitOK {
			t.Fatalf("inspect --json: exit %d: %s", code, errs)
		}
		var s forensics.Snap
		if err := json.Unmarshal([]byte(out), &s); err != nil || s.Schema != forensics.SchemaVersion || s.Procs[0].PID != s.Root {
			t.Fatalf("inspect --json: %v: %.300s", err, out)
		}
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := save("a.json")
	for i := range 3 {
		if err := os.WriteFile(filepath.Join(dir, "tmp_pack_x"+strconv.Itoa(i)+"Yz9q"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := save("b.json")
	code, out, errs = runInspect(t, "--diff", a, b, "--cycles", "3")
	if code != exitOK || !strings.Contains(out, "+3 file <base>/tmp_pack_<tmp>  [git temp pack]   e.g. "+dir+"/tmp_pack_x") {
		t.Fatalf("inspect --diff: exit %d\n%s%s", code, out, errs)
	}
	code, out, _ = runInspect(t, "--diff", a, b, "--cycles", "3", "--json")
	var d forensics.Diff
	if err := json.Unmarshal([]byte(out), &d); code != exitOK || err != nil || len(d.Top(1)) != 1 || d.Top(1)[0].PerCycle != 1 {
		t.Fatalf("inspect --diff --json: exit %d, %v: %s", code, err, out)
	}
}

func TestInspectBadInputExit2(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	gone := strconv.Itoa(cmd.Process.Pid)
	notJSON := filepath.Join(t.TempDir(), "x.json")
	if err := os.WriteFile(notJSON, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "give --pid PID"},
		{[]string{"--pid", gone}, "no such process"},
		{[]string{"--pid", "1", "--diff", "a", "b"}, "--pid and --diff exclude each other"},
		{[]string{"--diff", "a.json"}, "--diff takes two saved snapshots"},
		{[]string{"--diff", "/no/such/a.json", notJSON}, "no such file"},
		{[]string{"--diff", notJSON, notJSON}, "not a snapshot"},
		{[]string{"--pid", "1", "--peer", "nope"}, "want ADDR=ROLE"},
		{[]string{"--pid", "x"}, "invalid value"},
	} {
		code, out, errs := runInspect(t, c.args...)
		if code != exitUsage || !strings.Contains(errs, c.want) {
			t.Errorf("inspect %q: exit %d, stderr %q (stdout %q), want 2 and %q", c.args, code, errs, out, c.want)
		}
	}
	if code, out, _ := runInspect(t, "-h"); code != exitOK || !strings.Contains(out, "--base-dir DIR") {
		t.Errorf("inspect -h: exit %d: %s", code, out)
	}
}
