package gates

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/fixtures/repogen"
	"github.com/gitchaos/gitchaos/harness/eventually"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
)

// The delete-hang gate's checks.
var (
	deleteHangPrompt = declare("delete-hang", "delete-prompt", "delete returns promptly during a hang", unitSeconds,
		"deleting a scope whose fetch hangs does not wait for the fetch")
	deleteHangNothingBack = declare("delete-hang", "nothing-back", "nothing comes back after the hang ends", unitCount,
		"a fetch that ends after its scope was deleted leaves no clone, cache entry or scope behind")
	deleteHangSameURL = declare("delete-hang", "same-url-other-shard", "a deleted scope's clone goes beside a same-url scope on another shard", unitCount,
		"delete decides on the source id (url and shard), not the url: a same-url scope on another shard keeps nothing alive")
)

// DeleteHangParams size the delete-during-a-hang gate.
type DeleteHangParams struct {
	Scopes       int           `json:"scopes" yaml:"scopes"`               // scopes whose fetch hangs when deleted
	DeleteBudget time.Duration `json:"delete_budget" yaml:"delete_budget"` // each DELETE answers within this
	Spec         repogen.Spec  `json:"spec" yaml:"spec"`
}

// GateName names the gate these params are for ("delete-hang").
func (DeleteHangParams) GateName() string { return "delete-hang" }

// Validate reports what is wrong with the params: every error names the
// field as suite files spell it and its value.
func (p *DeleteHangParams) Validate() error {
	c := paramCheck{gate: "delete-hang"}
	c.atLeast("scopes", p.Scopes, 1, "")
	c.positive("delete_budget", p.DeleteBudget)
	c.spec("spec", p.Spec)
	return c.err()
}

func (p *DeleteHangParams) setScopes(n int) { p.Scopes = n }

// This scenario deletes scopes whose fetch hangs inside the git server: each
// delete returns promptly, and after the hang ends no clone dir, cache
// entry or scope comes back. Then, with SCOPES_REPO_CLONES_SHARDS > 1 (the
// harness starts its targets with 4), a scope is deleted while another
// scope of the same url on a branch of another shard lives: the deleted
// scope's clone goes (its source differs, though the url is shared). Last,
// three scopes share one source (deletehang_shared.go): one is deleted
// while the others live, one while a fetch of the source hangs, and the
// survivor serves throughout and keeps its clone until it goes last.
var deleteHangGate = &Gate{
	Name: "delete-hang",
	Doc:  "delete during a hang: deletes return promptly; nothing comes back after the hang ends; a same-url scope on another shard keeps no clone alive; a scope sharing a deleted scope's source serves without a gap and keeps its clone",
	// Repos spread over hosts so a per-host cap lets the whole pool in.
	Hosts: 4,
	Settings: func(st target.Settings) target.Settings {
		st.Shards = max(st.Shards, 4)
		return st
	},
	Params: func() any {
		return &DeleteHangParams{Scopes: 2, DeleteBudget: 500 * time.Millisecond, Spec: repogen.DefaultSpec()}
	},
	Run: runDeleteHang,
}

func runDeleteHang(ctx context.Context, s *S, pp any) error {
	p := pp.(*DeleteHangParams)
	repos, err := s.scopes.SpreadRepos(ctx, p.Scopes, p.Spec)
	if err != nil {
		return err
	}
	var ids, urls []string
	for i, r := range repos {
		ids, urls = append(ids, s.scopes.ID(i)), append(urls, r.URL())
	}
	if err := s.scopes.Put(ctx, ids, urls); err != nil {
		return err
	}
	if _, out := s.scopes.Ready(ctx, ids, nil); !out.OK {
		return fmt.Errorf("delete-hang: scopes never served: %s", out.Describe())
	}
	s.scopes.learnClones(repos)
	for _, h := range s.Testbed.Hosts() {
		if err := h.Admin.ResetCounters(ctx); err != nil {
			return fmt.Errorf("reset counters on %s: %w", h.Name, err)
		}
	}
	var clears []func(context.Context) error
	for i := range repos {
		if err := s.scopes.Push(ctx, &repos[i]); err != nil {
			return err
		}
		c, err := s.faults.Inject(ctx, repos[i].Host, repos[i].Name, fault("hang"))
		if err != nil {
			return err
		}
		clears = append(clears, c)
	}
	if err := s.Client.RefreshAll(ctx); err != nil {
		return fmt.Errorf("refresh all: %w", err)
	}
	// Wait until the fetches hang inside the server: as many as the
	// target runs at once (min(N, max_workers)); the rest wait in its pool.
	out, held := s.waitHeld(ctx, repos, s.Settings.MaxWorkers, 10*time.Second, 10*time.Millisecond)
	if !out.OK {
		return fmt.Errorf("delete-hang: fetches never reached the hang: %s", out.Describe())
	}
	s.rec.Mark(result.MarkerPhase, "delete while hanging")
	worst := time.Duration(0)
	var slow []string
	for _, id := range ids {
		t0 := time.Now()
		err := s.Client.Do(ctx, http.MethodDelete, "/scopes/"+id, nil, nil)
		d := time.Since(t0)
		if err != nil {
			return fmt.Errorf("delete %s during the hang: %w", id, err)
		}
		worst = max(worst, d)
		s.scopes.deleted(id)
		if d > p.DeleteBudget {
			slow = append(slow, fmt.Sprintf("%s %v", id, d.Round(time.Millisecond)))
		}
	}
	explain := fmt.Sprintf("slowest of %d deletes while %d of their fetches hang in the git server and the rest wait in the target's pool (max_workers %d; git timeout %v)", len(ids), held, s.Settings.MaxWorkers, s.Settings.GitTimeout)
	if len(slow) > 0 {
		explain += ": " + strings.Join(slow, ", ")
	}
	s.rec.LE(deleteHangPrompt, worst.Seconds(), p.DeleteBudget.Seconds(), explain)

	// End the hang, then watch for a while: nothing may come back.
	for _, c := range clears {
		if err := c(ctx); err != nil {
			return err
		}
	}
	watch := s.Settings.GitTimeout + time.Second
	end := time.Now().Add(watch)
	var back []string
	for time.Now().Before(end) && ctx.Err() == nil && len(back) == 0 {
		back = s.leftovers(ctx, ids)
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	if len(back) == 0 {
		back = s.leftovers(ctx, ids)
	}
	seen := "scope, cache entry or clone dir"
	st, ok, err := s.Stats(ctx)
	if err != nil {
		return fmt.Errorf("delete-hang: stats: %w", err)
	}
	if why := lacksCaches(st, ok); why != "" {
		seen = "scope or clone dir (cache entries not watched: " + why + ")"
	}
	if _, known := s.CloneDirs(); !known {
		seen = strings.Replace(seen, " or clone dir", "", 1) + " (clone dirs not watched: base dir unknown)"
	}
	s.rec.EQ(deleteHangNothingBack, float64(len(back)), 0,
		orDefault(strings.Join(back, "; "), fmt.Sprintf("no %s seen for %v after the hang ended", seen, watch)))
	hw := newHeldWatch()
	hw.at(ctx, s, 0, "after the hang ended")
	s.rec.Add(deleteHangNothingHeld, hw.result())
	if err := s.shardSibling(ctx, p); err != nil {
		return err
	}
	return s.sharedSource(ctx, p)
}

// shardSibling puts scope a (branch main) and scope b (same url, a branch on
// another shard), deletes a and checks that a's clone dir went: with more
// than one shard they have different source ids, so b shares no clone with a.
func (s *S) shardSibling(ctx context.Context, p *DeleteHangParams) error {
	shards := s.Settings.Shards
	if shards < 2 {
		s.rec.Skip(deleteHangSameURL, fmt.Sprintf("the target runs with SCOPES_REPO_CLONES_SHARDS=%d: every branch of a url shares one clone", shards))
		return nil
	}
	if _, known := s.CloneDirs(); !known {
		s.rec.Skip(deleteHangSameURL, "target's base dir unknown")
		return nil
	}
	branch := ""
	for i := 0; branch == "" && i < 64; i++ {
		if b := fmt.Sprintf("shard-%d", i); shardOf(b, shards) != shardOf("main", shards) {
			branch = b
		}
	}
	h := s.scopes.Host(0)
	repos, err := s.scopes.CreateRepos(ctx, h, p.Scopes, 1, p.Spec)
	if err != nil {
		return err
	}
	r := repos[0]
	if _, err := h.Admin.AddBranch(ctx, r.Name, gitserver.BranchRequest{Name: branch, From: "main"}); err != nil {
		return fmt.Errorf("add branch %s to %s: %w", branch, r.Name, err)
	}
	a, b := s.scopes.ID(p.Scopes), s.scopes.ID(p.Scopes+1)
	s.rec.Mark(result.MarkerPhase, "delete beside a same-url scope")
	for _, sc := range []struct{ id, branch string }{{a, "main"}, {b, branch}} {
		if err := s.scopes.PutBranch(ctx, sc.id, r.URL(), sc.branch); err != nil {
			return err
		}
	}
	if _, out := s.scopes.Ready(ctx, []string{a, b}, nil); !out.OK {
		return fmt.Errorf("delete-hang: same-url scopes never served: %s", out.Describe())
	}
	dirA := sourceDir(r.URL(), "main", shards)
	if dirs, _ := s.CloneDirs(); !slices.Contains(dirs, dirA) {
		s.rec.Error(deleteHangSameURL, fmt.Errorf("clone dir %s of scope %s not found before the delete (dirs: %s): the target's source ids differ from sha256(url)-shard", dirA, a, joinIDs(dirs)))
		return nil
	}
	if err := s.Client.DeleteScope(ctx, a); err != nil {
		return fmt.Errorf("delete %s: %w", a, err)
	}
	gone := eventually.Poll(ctx, 2*time.Second, 20*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		dirs, _ := s.CloneDirs()
		return !slices.Contains(dirs, dirA), "clone dirs " + orDefault(joinIDs(dirs), "none"), nil
	})
	left := 0.0
	if !gone.OK {
		left = 1
	}
	s.rec.EQ(deleteHangSameURL, left, 0, fmt.Sprintf("scope %s (main) deleted while %s (same url, branch %s, another of %d shards) lives: %s", a, b, branch, shards, gone.Describe()))
	if err := s.Client.DeleteScope(ctx, b); err != nil {
		return fmt.Errorf("delete %s: %w", b, err)
	}
	return nil
}

// shardOf is the shard of a branch: first byte of sha256(branch) mod shards
// (OPAL's source id scheme).
func shardOf(branch string, shards int) int {
	h := sha256.Sum256([]byte(branch))
	return int(h[0]) % shards
}

// sourceDir is the clone dir name of url and branch: sha256(url) hex, "-",
// the branch's shard.
func sourceDir(url, branch string, shards int) string {
	h := sha256.Sum256([]byte(url))
	return hex.EncodeToString(h[:]) + "-" + strconv.Itoa(shardOf(branch, shards))
}

// leftovers lists what of deleted scopes is still (or again) there.
func (s *S) leftovers(ctx context.Context, ids []string) []string {
	var out []string
	for _, id := range ids {
		if _, err := s.Client.Scope(ctx, id); err == nil {
			out = append(out, "scope "+id+" exists")
		} else if !target.IsStatus(err, http.StatusNotFound) {
			out = append(out, fmt.Sprintf("scope %s: %v", id, err))
		}
	}
	if st, ok, err := s.Stats(ctx); err == nil && lacksCaches(st, ok) == "" {
		for _, k := range target.CacheKeys {
			if st[k] != 0 {
				out = append(out, fmt.Sprintf("%s=%g", k, st[k]))
			}
		}
	}
	if dirs, known := s.CloneDirs(); known && len(dirs) > 0 {
		out = append(out, "clone dirs "+joinIDs(dirs))
	}
	return out
}
