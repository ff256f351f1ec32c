// The soak's delete-sharer step: one of two live extra scopes on one pool
// repo (one source: same url, branch main) is deleted, and the other must
// serve through the delete with its clone in place.

package gates

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/gitchaos/gitchaos/harness/eventually"
	"github.com/gitchaos/gitchaos/harness/target"
)

// stepDeleteSharer is the soak step kind that deletes a live extra scope
// whose pool repo another live extra scope uses.
const stepDeleteSharer = "delete-sharer"

// The soak's check on its delete-sharer steps.
var soakSiblingServes = declare("soak", "sibling-serves", "a sibling serves through every delete of a sharer", unitCount,
	"deleting one of two extra scopes that share a pool repo (one source) leaves the other serving, its clone dir in place, through the delete")

// soakSharerPolls is how many times a delete-sharer step reads the
// sibling after the delete, sharedPollEvery apart (about 100 ms).
const soakSharerPolls = 5

// sharerTally is what the delete-sharer steps saw.
type sharerTally struct {
	steps  int // delete-sharer steps that found a sibling
	judged int // of which the sibling served before the delete
	failed int
	why    string // the first failure
}

// isDelete reports whether a step of kind deletes a live extra scope.
func isDelete(kind string) bool { return kind == stepDelete || kind == stepDeleteSharer }

// resolveSharer picks, by pick, a live extra scope whose pool repo another
// live extra scope uses (why it is skipped when there is none).
func (k *soak) resolveSharer(rs SchedStep, pick int) (SchedStep, string) {
	var cands []int
	for i := range k.extras {
		if k.siblingOf(i) >= 0 {
			cands = append(cands, i)
		}
	}
	if len(cands) == 0 {
		return rs, "no two live extra scopes share a repo"
	}
	rs.Scope = k.extras[cands[pick%len(cands)]].num
	return rs, ""
}

// siblingOf is the index of another live extra scope on extra i's repo,
// or -1.
func (k *soak) siblingOf(i int) int {
	for j, o := range k.extras {
		if j != i && o.repo == k.extras[i].repo {
			return j
		}
	}
	return -1
}

// deleteSharer deletes live extra scope st.Scope and, when a sibling on
// its repo serves before the delete (waited for up to one clone's time), reads the sibling soakSharerPolls
// times after it: each read must answer a bundle, and the sibling's clone
// dirs (learned by content) must stay. A replay whose sibling's put was
// shrunk away runs it as a plain delete.
func (k *soak) deleteSharer(ctx context.Context, st SchedStep) (string, error) {
	i := k.extra(st.Scope)
	if i < 0 {
		return fmt.Sprintf("scope %d not alive", st.Scope), nil
	}
	j := k.siblingOf(i)
	if j < 0 {
		return k.deleteExtra(ctx, st)
	}
	sib := k.extras[j]
	k.sharer.steps++
	// The sibling may have been put just before: give it the time of one
	// clone (2 × git timeout, at least 1 s) to serve, so that the step is
	// judged whatever the machine's speed; one that still does not serve
	// (its host faulted, say) leaves the step unjudged.
	var before target.Bundle
	serving := eventually.Poll(ctx, max(time.Second, 2*k.Settings.GitTimeout), sharedPollEvery, func(ctx context.Context) (bool, string, error) {
		b, err := k.Client.Policy(ctx, sib.id)
		if err != nil {
			return false, err.Error(), nil
		}
		before = b
		return b.Hash != "", "served " + short(b.Hash), nil
	}).OK
	var dirs []string
	if serving {
		k.scopes.learnClones([]Repo{*sib.repo})
		dirs = k.scopes.clonesOf(sib.repo.URL())
	}
	skip, err := k.deleteExtra(ctx, st)
	if err != nil || skip != "" || !serving {
		return skip, err
	}
	k.sharer.judged++
	fault := ""
	t := time.NewTicker(sharedPollEvery)
	defer t.Stop()
	for n := 0; n < soakSharerPolls && fault == "" && ctx.Err() == nil; n++ {
		var missing []string
		if _, err := k.Client.Policy(ctx, sib.id); err != nil {
			missing = append(missing, fmt.Sprintf("no bundle: %v", err))
		}
		for _, d := range dirs {
			if !isGitDir(d) && !isGitDir(filepath.Join(d, ".git")) {
				missing = append(missing, "clone dir "+d+" gone")
			}
		}
		if len(missing) > 0 && ctx.Err() == nil {
			fault = fmt.Sprintf("%v: %s (sibling of the deleted %s, served %s before), read %d after the delete: %s",
				st, sib.id, k.scopes.ID(st.Scope), short(before.Hash), n+1, strings.Join(missing, ", "))
		}
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	if fault != "" {
		k.sharer.failed++
		if k.sharer.why == "" {
			k.sharer.why = fault
		}
	}
	return "", nil
}

// judgeSharers records soak.sibling-serves.
func (k *soak) judgeSharers() {
	s := k.sharer
	if s.judged == 0 {
		k.rec.Skip(soakSiblingServes, fmt.Sprintf("no delete-sharer step met a sibling that served before the delete (%d met a sibling at all)", s.steps))
		return
	}
	k.rec.LE(soakSiblingServes, float64(s.failed), 0, orDefault(s.why,
		fmt.Sprintf("in each of %d delete-sharer steps the sibling answered its bundle at %d reads %v apart after the delete, its clone dir in place", s.judged, soakSharerPolls, sharedPollEvery)))
}
