package gates

import (
	"context"
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/fixtures/repogen"
	"github.com/gitchaos/gitchaos/harness/eventually"
	"github.com/gitchaos/gitchaos/harness/faults"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
)

// The disk-full gate's checks.
var (
	diskFullStaysUp = declare("disk-full", "stays-up", "server answers while the disk is full", unitCount,
		"a full disk fails git work, not the server: health and the bundles of cloned scopes answer throughout")
	diskFullVisible = declare("disk-full", "failure-visible", "failed syncs reported while the disk is full", unitSeconds,
		"a clone or fetch that hits ENOSPC is reported failed (health's scopes_failed or the scope's status), not a silent stall")
	diskFullNewest = declare("disk-full", "newest-after-refresh", "newest commit served after one refresh once space returns", "",
		"once space returns, one refresh brings every scope, the one whose clone failed too, to its newest commit")
	diskFullNoDebris = declare("disk-full", "no-debris", "nothing half-written left once space returns", unitCount,
		"a failed clone or fetch leaves no tmp_pack_*/tmp_obj_* file, no half-written clone and no staging dir behind (argo-cd#18831)")
	diskFullContent = declare("disk-full", "content-matches", "served files match their revision around the full disk", unitCount,
		"no bundle read before, during or after the full disk differs from the repo's files at its hash: no corrupt clone is served")
	diskFullChecks = []*Check{diskFullStaysUp, diskFullVisible, diskFullNewest, diskFullNoDebris, diskFullContent}
)

// DiskFullParams size the disk-full gate.
type DiskFullParams struct {
	Scopes int          `json:"scopes" yaml:"scopes"` // scopes cloned before the disk fills, one repo each: the first is fetched into the full disk, the others only serve
	Size   int64        `json:"size" yaml:"size"`     // bytes of the tmpfs the target's base dir is put on
	Spec   repogen.Spec `json:"spec" yaml:"spec"`
}

// GateName names the gate these params are for ("disk-full").
func (DiskFullParams) GateName() string { return "disk-full" }

// Validate reports what is wrong with the params: every error names the
// field as suite files spell it and its value.
func (p *DiskFullParams) Validate() error {
	c := paramCheck{gate: "disk-full"}
	c.atLeast("scopes", p.Scopes, 2, "one fetched into the full disk, one that keeps serving")
	if p.Size < 1<<20 || p.Size > faults.MaxDiskFullBytes {
		c.fail("size", p.Size, fmt.Sprintf("in [1 MiB, %d]", int64(faults.MaxDiskFullBytes)))
	}
	c.spec("spec", p.Spec)
	return c.err()
}

func (p *DiskFullParams) setScopes(n int) { p.Scopes = max(n, 2) }

// diskFullGate puts the target's base dir on a tmpfs of its own (mounted
// over it during a cold start, unmounted by another when the gate ends),
// holds a fetch and a clone inside the git server, fills the tmpfs
// (diskfull), releases them into the full disk, then frees it. The server
// stays up, reports both syncs failed, leaves nothing half-written, and
// after one refresh every scope serves its newest commit with the files
// of that commit. Not in the default suite: it needs root (mount), and
// where mounting is refused every check is skipped with the reason, which
// --strict would turn into a failed default run.
var diskFullGate = &Gate{
	Name:  "disk-full",
	Doc:   "base dir on a bounded tmpfs filled mid-clone and mid-fetch, then freed: server up, failure reported, no debris, newest after one refresh (opt-in: needs mount)",
	Hosts: 1,
	Params: func() any {
		return &DiskFullParams{Scopes: 3, Size: 16 << 20, Spec: repogen.DefaultSpec()}
	},
	// The fetch and the clone are held in the git server while the disk
	// fills: a git timeout of at least 5 s keeps them from timing out first.
	Settings: func(st target.Settings) target.Settings {
		st.GitTimeout = max(st.GitTimeout, 5*time.Second)
		return st
	},
	Run: runDiskFull,
}

func runDiskFull(ctx context.Context, s *S, pp any) error {
	p := pp.(*DiskFullParams)
	cs, ok := s.Target.(target.ColdStarter)
	base := s.Target.BaseDir()
	if !ok || base == "" {
		return s.skipDiskFull(fmt.Sprintf("%s: the gate puts the base dir of a target the harness started (in-process or --target-cmd {base_dir}) on a tmpfs", s.Target.Describe()))
	}
	if err := probeMount(p.Size); err != nil {
		return s.skipDiskFull(err.Error())
	}
	restore, err := s.tmpfsBaseDir(ctx, cs, base, p.Size)
	if err != nil {
		return err
	}
	defer restore()
	s.rec.Mark(result.MarkerPhase, fmt.Sprintf("base dir on a %s tmpfs", result.FormatValue(float64(p.Size), unitBytes)))

	h := s.scopes.Host(0)
	repos, err := s.scopes.CreateRepos(ctx, h, 0, p.Scopes, p.Spec)
	if err != nil {
		return err
	}
	// The clone's pack is bigger than the room left: it is half written
	// when the disk runs out.
	big := p.Spec
	big.PackBytes = max(big.PackBytes, 4*diskFullFree)
	clonedRepo, err := s.scopes.CreateRepos(ctx, h, p.Scopes, 1, big)
	if err != nil {
		return err
	}
	fetched, cloned := &repos[0], &clonedRepo[0]
	ids, urls := make([]string, p.Scopes), make([]string, p.Scopes)
	for i := range ids {
		ids[i], urls[i] = s.scopes.ID(i), repos[i].URL()
	}
	newID := s.scopes.ID(p.Scopes)
	s.scopes.watchContent()
	if err := s.scopes.Put(ctx, ids, urls); err != nil {
		return err
	}
	if _, out := s.scopes.Ready(ctx, ids, nil); !out.OK {
		return fmt.Errorf("disk-full: scopes never served before the disk filled: %s", out.Describe())
	}
	failedBefore := s.failedCount(ctx)

	// A fetch and a clone held inside the git server (refs read, the pack
	// asked for), the disk filled to diskFullFree, then each released into
	// it in turn: the fetch's pack (a pushed file of 4 × diskFullFree) and
	// the clone's both outgrow the room left.
	if err := s.pushBig(ctx, fetched, 4*diskFullFree); err != nil {
		return err
	}
	var clears []func(context.Context) error
	for _, r := range []*Repo{fetched, cloned} {
		c, err := s.faults.Inject(ctx, r.Host, r.Name, fault("hang:op=git-upload-pack"))
		if err != nil {
			return err
		}
		clears = append(clears, c)
	}
	if err := s.Client.Refresh(ctx, ids[0]); err != nil {
		return fmt.Errorf("refresh %s: %w", ids[0], err)
	}
	if err := s.scopes.Put(ctx, []string{newID}, []string{cloned.URL()}); err != nil {
		return err
	}
	if out, n := s.waitHeld(ctx, []Repo{*fetched, *cloned}, 2, s.Settings.GitTimeout/2, 5*time.Millisecond); !out.OK {
		return fmt.Errorf("disk-full: the fetch and the clone never reached upload-pack (%d of 2): %s", n, out.Describe())
	}
	free, err := s.faults.injectDisk(base, faults.DiskFull{Free: diskFullFree})
	if err != nil {
		return err
	}

	// While the disk is full: each failure shows, and the server answers.
	budget := s.Settings.GitTimeout
	bad, answers := 0, 0
	var firstBad string
	alive := func(ctx context.Context) {
		answers++
		if _, err := s.Client.Health(ctx); err != nil {
			bad++
			firstBad = orDefault(firstBad, "health: "+err.Error())
		}
		for _, id := range ids[1:] {
			answers++
			if _, err := s.Client.Policy(ctx, id); err != nil {
				bad++
				firstBad = orDefault(firstBad, "policy of "+id+": "+err.Error())
			}
		}
	}
	how, worst := "", time.Duration(0)
	var vis eventually.Outcome
	for i, what := range []string{"fetch of " + ids[0], "clone of " + newID} {
		if err := clears[i](ctx); err != nil {
			return err
		}
		released := time.Now()
		vis = eventually.Poll(ctx, budget, 25*time.Millisecond, func(ctx context.Context) (bool, string, error) {
			alive(ctx)
			n, via := s.failedSyncs(ctx, []string{ids[0], newID})
			how = via
			if via == "health" {
				n -= failedBefore
			}
			return n >= i+1, fmt.Sprintf("%d of %d syncs reported failed (%s) after the %s was released", n, i+1, via, what), nil
		})
		if !vis.OK {
			break
		}
		worst = max(worst, time.Since(released))
	}
	switch {
	case how == "":
		s.rec.Skip(diskFullVisible, "the target reports no failed sync: no scopes_failed in its health, no status in GET /scopes/{id}")
	case vis.OK:
		s.rec.LE(diskFullVisible, worst.Seconds(), budget.Seconds(),
			fmt.Sprintf("%s; the slower of the two, seconds after its release into the full disk (%s left); budget: the git timeout (%v): ENOSPC ends the operation at a write, long before its timeout would", vis.Observed, result.FormatValue(diskFullFree, unitBytes), s.Settings.GitTimeout))
	default:
		s.rec.True(diskFullVisible, false, vis.Describe(), fmt.Sprintf("each reported failed within the git timeout (%v)", budget), "a fetch, then a clone, released into a full disk")
	}
	if err := s.settleInFlight(ctx, 2*s.Settings.GitTimeout); err != nil {
		s.Logf("disk-full: %v", err)
	}
	alive(ctx)

	// Space returns: one refresh brings every scope to its newest commit.
	if err := free(ctx); err != nil {
		return err
	}
	s.rec.Mark(result.MarkerPhase, "space back")
	all := append(slices.Clone(ids), newID)
	want := map[string]string{newID: cloned.Head}
	for i, id := range ids {
		want[id] = repos[i].Head
	}
	if err := s.Client.RefreshAll(ctx); err != nil {
		return fmt.Errorf("refresh all once space returned: %w", err)
	}
	wait := 2*s.Settings.GitTimeout + 2*time.Second
	_, out := s.scopes.Served(ctx, all, want, wait)
	s.rec.True(diskFullNewest, out.OK, out.Describe(), fmt.Sprintf("every scope on its newest commit within %v (2 × git timeout + 2 s: a clone and a fetch)", wait),
		fmt.Sprintf("after a fetch of %s and a clone of %s failed on the full disk, space freed, one refresh of all scopes", ids[0], newID))
	alive(ctx)
	s.rec.LE(diskFullStaysUp, float64(bad), 0, orDefault(firstBad, fmt.Sprintf("all %d health and bundle requests answered while the disk was full and after", answers)))

	if err := s.settleInFlight(ctx, wait); err != nil {
		s.Logf("disk-full: %v", err)
	}
	debris := diskDebris(base, s.watchedDirs())
	s.rec.LE(diskFullNoDebris, float64(len(debris)), 0,
		orDefault(strings.Join(debris, "; "), fmt.Sprintf("no tmp_pack_*/tmp_idx_*/tmp_obj_* file, no half-written clone under git_sources and no clone outside it under %s", strings.Join(append([]string{base}, s.watchedDirs()...), ", "))))
	s.rec.Add(diskFullContent, s.scopes.contentCheck(ctx))
	return nil
}

// diskFullFree is the room the full disk leaves: small writes (refs, a
// lock) still fit, a pack of 4 × it does not.
const diskFullFree = 64 << 10

// pushBig pushes a commit adding a file of about n bytes that compresses
// badly (base64 of seeded random bytes), so the fetch's pack is about 3/4
// of n.
func (s *S) pushBig(ctx context.Context, r *Repo, n int) error {
	raw := make([]byte, n*3/4)
	for i := range raw {
		raw[i] = byte(s.Rand.Uint32())
	}
	seed := s.Rand.Int64()
	info, err := r.Host.Admin.Commit(ctx, r.Name, gitserver.CommitRequest{Seed: seed, Message: fmt.Sprintf("gitchaos big commit %d", seed),
		Files: map[string]string{"blobs/big.b64": base64.StdEncoding.EncodeToString(raw)}})
	if err != nil {
		return fmt.Errorf("push a %d-byte file to %s/%s: %w", n, r.Host.Name, r.Name, err)
	}
	r.Head = info.Head
	return nil
}

// skipDiskFull records every check of the gate as skipped with why.
func (s *S) skipDiskFull(why string) error {
	for _, c := range diskFullChecks {
		s.rec.Skip(c, why)
	}
	return nil
}

// probeMount mounts and unmounts a tmpfs on a temp dir: mounting is
// permitted here (root, or CAP_SYS_ADMIN).
func probeMount(size int64) error {
	dir, err := os.MkdirTemp("", "gitchaos-mountprobe-")
	if err != nil {
		return fmt.Errorf("disk-full: %w", err)
	}
	defer os.Remove(dir)
	unmount, err := faults.MountTmpfs(dir, size)
	if err != nil {
		return err
	}
	return unmount()
}

// tmpfsBaseDir cold-starts the target with a tmpfs of size mounted over its
// base dir and returns what puts things back: another cold start whose
// pause unmounts it (the target holds nothing on it then), or a lazy
// unmount when that fails.
func (s *S) tmpfsBaseDir(ctx context.Context, cs target.ColdStarter, base string, size int64) (restore func(), err error) {
	var unmount func() error
	if _, err := cs.ColdStart(ctx, func(context.Context) error {
		u, err := faults.MountTmpfs(base, size)
		unmount = u
		return err
	}); err != nil {
		if unmount != nil {
			_ = unmount()
		}
		return nil, fmt.Errorf("disk-full: cold start on a tmpfs: %w", err)
	}
	restore = func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		unmounted := false
		_, err := cs.ColdStart(rctx, func(context.Context) error { unmounted = true; return unmount() })
		if err != nil {
			s.Logf("disk-full: restart off the tmpfs: %v", err)
		}
		if !unmounted {
			if err := unmount(); err != nil {
				s.res.Error = joinErr(s.res.Error, err.Error())
			}
		}
	}
	out := eventually.Poll(ctx, readyTimeout, 25*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		_, err := s.Client.Health(ctx)
		return err == nil, fmt.Sprint(err), nil
	})
	if !out.OK {
		restore()
		return nil, fmt.Errorf("disk-full: target never healthy on the tmpfs: %s", out.Describe())
	}
	return restore, nil
}

// failedCount is health's scopes_failed (0 when it has none).
func (s *S) failedCount(ctx context.Context) int {
	n, _ := s.failedSyncs(ctx, nil)
	return n
}

// failedSyncs counts the failed syncs the target reports: health's
// scopes_failed when it has the key ("health"), else the scopes of ids
// whose GET /scopes/{id} says status failed ("status"); "" when it reports
// neither.
func (s *S) failedSyncs(ctx context.Context, ids []string) (int, string) {
	if h, err := s.Client.Health(ctx); err == nil {
		if f, ok := h[target.HealthScopesFailed].(float64); ok {
			return int(f), "health"
		}
	}
	n, via := 0, ""
	for _, id := range ids {
		sc, err := s.Client.Scope(ctx, id)
		if err != nil {
			continue
		}
		if st, ok := sc["status"].(string); ok {
			via = "status"
			if st == "failed" {
				n++
			}
		}
	}
	return n, via
}

// tmpNames are the prefixes of the temp files git and go-git write objects
// and packs through before renaming them into place.
var tmpNames = []string{"tmp_pack_", "tmp_idx_", "tmp_obj_", "tmp_rev_"}

// diskDebris lists what failed git work left under base and the watched
// dirs: object and pack temp files, clone dirs under git_sources that are
// not whole clones, and clones outside git_sources (staging left behind).
func diskDebris(base string, watched []string) []string {
	var out []string
	sources := filepath.Join(base, "git_sources")
	if bad := corruptClones(base); len(bad) > 0 {
		for _, b := range bad {
			out = append(out, "half-written clone git_sources/"+b)
		}
	}
	roots := append([]string{base}, watched...)
	seen := map[string]bool{}
	for _, root := range roots {
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || seen[p] {
				return nil
			}
			seen[p] = true
			name := d.Name()
			if !d.IsDir() {
				for _, pre := range tmpNames {
					if strings.HasPrefix(name, pre) {
						out = append(out, "temp file "+relTo(base, p))
					}
				}
				return nil
			}
			if p == sources || strings.HasPrefix(p, sources+string(filepath.Separator)) {
				return nil // clones: their tmp files are found below, each checked whole above
			}
			if p != root && isRepoDir(p) {
				out = append(out, "clone outside git_sources "+relTo(base, p))
				return fs.SkipDir
			}
			return nil
		})
	}
	return out
}

// isRepoDir: dir holds a git repository (bare, or its .git).
func isRepoDir(dir string) bool {
	for _, d := range []string{dir, filepath.Join(dir, ".git")} {
		if _, err := os.Stat(filepath.Join(d, "HEAD")); err != nil {
			continue
		}
		if fi, err := os.Stat(filepath.Join(d, "objects")); err == nil && fi.IsDir() {
			return true
		}
	}
	return false
}

func relTo(base, p string) string {
	if r, err := filepath.Rel(base, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}
