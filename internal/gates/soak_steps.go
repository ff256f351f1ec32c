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

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
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
	k.Mark(result.MarkerStep, st.String()+" → "+outcome)
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
	sctx, cancel := context.WithTimeout(ctx, soakStepTimeout)
	defer cancel()
	host := k.Host(st.Host)
	switch st.Kind {
	case stepPutNew, stepPutShared:
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
		id := k.ScopeID(k.nextID)
		k.nextID++
		err := k.C.PutScope(sctx, target.NewScope(id, r.URL(), "main"))
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
	case stepDelete:
		if len(k.extras) == 0 {
			return "no extra scope alive", nil
		}
		i := st.Pick % len(k.extras)
		e := k.extras[i]
		k.extras = slices.Delete(k.extras, i, i+1)
		k.setLive()
		if err := k.C.DeleteScope(sctx, e.id); err != nil && !target.IsStatus(err, http.StatusNotFound) {
			return "", fmt.Errorf("delete %s: %w", e.id, err)
		}
	case stepRefreshOne:
		ids := append(slices.Clone(k.baseIDs), extraIDs(k.extras)...)
		id := ids[st.Pick%len(ids)]
		if err := k.C.Refresh(sctx, id); err != nil {
			return "", fmt.Errorf("refresh %s: %w", id, err)
		}
	case stepRefreshAll:
		if err := k.C.RefreshAll(sctx); err != nil {
			return "", fmt.Errorf("refresh all: %w", err)
		}
	case stepPush:
		if err := k.Push(sctx, k.pool[st.Host][st.Pick]); err != nil {
			return "", err
		}
	case stepFlap, stepBlackhole:
		key := host.Name
		if k.busy(key) {
			return key + " already faulted", nil
		}
		spec := "blackhole"
		if st.Kind == stepFlap {
			spec = fmt.Sprintf("flap:up=%s,down=%s", st.Up, st.Down)
		}
		undo, err := k.Inject(sctx, host, fault(spec))
		if err != nil {
			return "", err
		}
		k.faults = append(k.faults, activeFault{key: key, until: st.N + st.Life, undo: undo})
	case stepRepoHang, stepRepo500:
		r := k.pool[st.Host][st.Pick]
		key := host.Name + "/" + r.Name
		if k.busy(key) {
			return key + " already faulted", nil
		}
		mode := gitserver.FaultHang
		if st.Kind == stepRepo500 {
			mode = gitserver.FaultHTTP500
		}
		undo, err := k.RepoFault(sctx, host, r.Name, gitserver.Fault{Mode: mode})
		if err != nil {
			return "", err
		}
		k.faults = append(k.faults, activeFault{key: key, until: st.N + st.Life, undo: undo})
	case stepRestart:
		if k.restartAt {
			return "a restart is already due at the next quiet point", nil
		}
		k.restartAt = true
	}
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
