package target

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/gitchaos/gitchaos/harness/proctree"
)

// TestExecEnvironment: the process gets every setting under OPAL's name
// and the bare one, a temp dir of the harness's beside its base dir, the
// user's extra entries (winning over the settings) and the tree marker.
func TestExecEnvironment(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f := &Exec{Template: "'" + exe + "' --listen {addr} --base-dir {base_dir}", TempDir: t.TempDir(),
		Env: []string{"GITCHAOS_TARGET_TEST_FETCHER=1", "OPAL_SCOPES_SYNC_CONCURRENCY=3", "EXTRA=a,b=c"}}
	tg, err := f.New(context.Background(), testSettings)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	et := tg.(*execTarget)
	tmp := TempDirOf(tg.BaseDir())
	if fi, err := os.Stat(tmp); err != nil || !fi.IsDir() {
		t.Fatalf("temp dir %s: %v", tmp, err)
	}
	pid := et.PID()
	for _, want := range []string{
		"OPAL_SCOPES_GIT_FETCH_TIMEOUT=1", "SCOPES_GIT_FETCH_TIMEOUT=1",
		"OPAL_SCOPES_GIT_MAX_WORKERS=2", "SCOPES_GIT_MAX_WORKERS=2",
		"OPAL_SCOPES_SYNC_CONCURRENCY=3", // the extra entry wins over the setting
		"OPAL_SCOPES_REPO_CLONES_SHARDS=1", "SCOPES_REPO_CLONES_SHARDS=1",
		"TMPDIR=" + tmp, "TMP=" + tmp, "TEMP=" + tmp, "EXTRA=a,b=c",
		proctree.Marker(filepath.Base(tg.BaseDir())),
	} {
		if !proctree.HasEnv(pid, want) {
			t.Errorf("process %d lacks %s in its environment", pid, want)
		}
	}
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("temp dir %s left after Close: %v", tmp, err)
	}
}
