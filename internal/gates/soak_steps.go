// The soak's steps: running one against the target, skipping it when it
// meets an active fault, and recovering expired faults.

package gates

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gitchaos/gitchaos/harness/faults"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
)

// step runs one planned step and records its outcome in the report as a
// "step" marker: "<step> → ran", "→ skipped: <why>", "→ error: <class>"
// (HTTP status or "no answer"; the message goes to the step errors) or
// "→ interrupted" when the soak ended during it. The markers are the
// executed list a replay compares.
func (k *soak) step(ctx context.Context, st soakStep) {
	k.mu.Lock()
	k.steps++
	k.last = st.String()
	k.mu.Unlock()
	skip, err := k.runStep(ctx, st)
	outcome := "ran"
	switch {
	case ctx.Err() != nil:
		outcome = "interrupted"
	case err != nil:
		outcome = "error: " + errClass(err)
		k.stepErr(ctx, st, err)
	case skip != "":
		outcome = "skipped: " + skip
		k.skipped++
	default:
		k.ran++
	}
	k.rec.Mark(result.MarkerStep, st.String()+" → "+outcome)
}

// errClass is the part of a step error that does not depend on timing or
// ports: the HTTP status, or that there was no answer.
func errClass(err error) string {
	var se *target.StatusError
	if errors.As(err, &se) {
		return fmt.Sprintf("HTTP %d", se.Status)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer in time"
	}
	return "no answer"
}

// stepErr records a step that failed for a reason other than the soak
// ending.
func (k *soak) stepErr(ctx context.Context, st soakStep, err error) {
	if err == nil || ctx.Err() != nil {
		return
	}
	k.stepErrs++
	if len(k.firstErrs) < 5 {
		k.firstErrs = append(k.firstErrs, fmt.Sprintf("%v at %.1fs: %v", st, time.Since(k.start).Seconds(), err))
	}
	k.Logger.Warn("soak: step failed", "step", st.String(), "err", err)
}

func (k *soak) busy(key string) bool {
	return slices.ContainsFunc(k.faults, func(f activeFault) bool { return f.key == key })
}

// runStep resolves and runs one planned step. It returns why it was
// skipped ("" = it ran) and its error.
func (k *soak) runStep(ctx context.Context, st soakStep) (skip string, err error) {
	run, ok := stepRunners[st.Kind]
	if !ok {
		return "", fmt.Errorf("step kind %q has no runner", st.Kind)
	}
	sctx, cancel := context.WithTimeout(ctx, soakStepTimeout)
	defer cancel()
	return run(k, sctx, st)
}

// stepRunners run each kind of step (soak_plan.go's stepWeights): each
// returns why it was skipped ("" = it ran) and its error.
var stepRunners = map[string]func(k *soak, ctx context.Context, st soakStep) (string, error){
	stepPutNew:     (*soak).putExtra,
	stepPutShared:  (*soak).putExtra,
	stepDelete:     (*soak).deleteExtra,
	stepRefreshOne: (*soak).refreshOne,
	stepRefreshAll: func(k *soak, ctx context.Context, _ soakStep) (string, error) {
		if err := k.Client.RefreshAll(ctx); err != nil {
			return "", fmt.Errorf("refresh all: %w", err)
		}
		return "", nil
	},
	stepPush: func(k *soak, ctx context.Context, st soakStep) (string, error) {
		return "", k.scopes.Push(ctx, k.pool[st.Host][st.Pick])
	},
	stepFlap:      (*soak).faultStep,
	stepBlackhole: (*soak).faultStep,
	stepRepoHang:  (*soak).faultStep,
	stepRepo500:   (*soak).faultStep,
	stepRestart: func(k *soak, _ context.Context, _ soakStep) (string, error) {
		if k.restartAt {
			return "a restart is already due at the next quiet point", nil
		}
		k.restartAt = true
		return "", nil
	},
}

// putExtra puts an extra scope on a pool repo of the step's host that no
// live extra scope uses (put-new) or that one already uses (put-shared).
func (k *soak) putExtra(ctx context.Context, st soakStep) (string, error) {
	if len(k.extras) >= k.o.MaxExtra {
		return fmt.Sprintf("%d extra scopes alive (max)", k.o.MaxExtra), nil
	}
	used := map[*Repo]bool{}
	for _, e := range k.extras {
		used[e.repo] = true
	}
	var cands []*Repo
	for _, r := range k.pool[st.Host] {
		if used[r] == (st.Kind == stepPutShared) {
			cands = append(cands, r)
		}
	}
	if len(cands) == 0 {
		cands = k.pool[st.Host]
	}
	r := cands[st.Pick%len(cands)]
	id := k.scopes.ID(k.nextID)
	k.nextID++
	err := k.Client.PutScope(ctx, target.NewScope(id, r.URL(), "main"))
	var se *target.StatusError
	if !errors.As(err, &se) {
		// Count it as live even on a transport error: the put may
		// have happened, and deleting it later is harmless.
		k.extras = append(k.extras, soakScope{id: id, repo: r})
		k.setLive()
	}
	if err != nil {
		return "", fmt.Errorf("put %s: %w", id, err)
	}
	return "", nil
}

// deleteExtra deletes a live extra scope.
func (k *soak) deleteExtra(ctx context.Context, st soakStep) (string, error) {
	if len(k.extras) == 0 {
		return "no extra scope alive", nil
	}
	i := st.Pick % len(k.extras)
	e := k.extras[i]
	k.extras = slices.Delete(k.extras, i, i+1)
	k.setLive()
	if err := k.Client.DeleteScope(ctx, e.id); err != nil && !target.IsStatus(err, http.StatusNotFound) {
		return "", fmt.Errorf("delete %s: %w", e.id, err)
	}
	return "", nil
}

// refreshOne refreshes one scope, baseline or extra.
func (k *soak) refreshOne(ctx context.Context, st soakStep) (string, error) {
	ids := append(slices.Clone(k.baseIDs), extraIDs(k.extras)...)
	id := ids[st.Pick%len(ids)]
	if err := k.Client.Refresh(ctx, id); err != nil {
		return "", fmt.Errorf("refresh %s: %w", id, err)
	}
	return "", nil
}

// soakFaults is the catalog fault of each fault step: a network fault
// acts on the step's host, a repo fault on one of its pool repos.
var soakFaults = map[string]func(st soakStep) string{
	stepFlap:      func(st soakStep) string { return fmt.Sprintf("flap:up=%s,down=%s", st.Up, st.Down) },
	stepBlackhole: func(soakStep) string { return "blackhole" },
	stepRepoHang:  func(soakStep) string { return "hang" },
	stepRepo500:   func(soakStep) string { return "http500" },
}

// faultStep puts the step's fault on its host (flap, blackhole) or on a
// pool repo of it (repo-hang, repo-500) for the step's life.
func (k *soak) faultStep(ctx context.Context, st soakStep) (string, error) {
	host := k.scopes.Host(st.Host)
	f := fault(soakFaults[st.Kind](st))
	key, repo := host.Name, ""
	if _, ok := f.(faults.RepoFault); ok {
		repo = k.pool[st.Host][st.Pick].Name
		key += "/" + repo
	}
	if k.busy(key) {
		return key + " already faulted", nil
	}
	undo, err := k.S.faults.Inject(ctx, host, repo, f)
	if err != nil {
		return "", err
	}
	k.faults = append(k.faults, activeFault{key: key, until: st.N + st.Life, undo: undo})
	return "", nil
}

func extraIDs(es []soakScope) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.id
	}
	return out
}

// recoverExpired undoes the faults whose last step is before step n.
func (k *soak) recoverExpired(ctx context.Context, n int) {
	kept := k.faults[:0]
	for _, f := range k.faults {
		if n < f.until {
			kept = append(kept, f)
			continue
		}
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), soakStepTimeout)
		if err := f.undo(uctx); err != nil {
			k.stepErr(ctx, soakStep{N: -1, Kind: "recover " + f.key}, err)
		}
		cancel()
	}
	k.faults = kept
}
