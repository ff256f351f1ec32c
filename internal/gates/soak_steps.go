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
// executed list a replay compares. The step, resolved, joins the
// executed schedule (schedule.yaml).
func (k *soak) step(ctx context.Context, st soakStep) {
	k.mu.Lock()
	k.steps++
	k.last = st.String()
	k.mu.Unlock()
	rs, skip := k.resolve(st)
	var err error
	if skip == "" {
		skip, err = k.exec(ctx, rs)
	}
	if skip != "" {
		rs.Skipped = skip
	}
	outcome := k.outcome(ctx, st, skip, err)
	rs.Outcome = outcome
	k.executed = append(k.executed, rs)
	k.rec.Mark(result.MarkerStep, st.String()+" → "+outcome)
}

// outcome counts a step's outcome and says it as the step markers do.
func (k *soak) outcome(ctx context.Context, st fmt.Stringer, skip string, err error) string {
	switch {
	case ctx.Err() != nil:
		return "interrupted"
	case err != nil:
		k.stepErr(ctx, st, err)
		return "error: " + errClass(err)
	case skip != "":
		k.skipped++
		return "skipped: " + skip
	}
	k.ran++
	return "ran"
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
func (k *soak) stepErr(ctx context.Context, st fmt.Stringer, err error) {
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

// resolve turns a planned step into the step it executes against the
// soak's state: which pool repo a put takes, which scope a delete or a
// refresh picks, whether a put meets the cap or a delete finds no scope
// (then it says why it is skipped).
func (k *soak) resolve(st soakStep) (SchedStep, string) {
	rs := SchedStep{N: st.N, Kind: st.Kind, Pause: Dur(st.Pause)}
	switch {
	case isPut(st.Kind):
		rs.Host = st.Host
		if len(k.extras) >= k.o.MaxExtra {
			return rs, fmt.Sprintf("%d extra scopes alive (max)", k.o.MaxExtra)
		}
		used := map[*Repo]bool{}
		for _, e := range k.extras {
			used[e.repo] = true
		}
		var cands []int
		for i, r := range k.pool[st.Host] {
			if used[r] == (st.Kind == stepPutShared) {
				cands = append(cands, i)
			}
		}
		if len(cands) == 0 {
			for i := range k.pool[st.Host] {
				cands = append(cands, i)
			}
		}
		rs.Repo = cands[st.Pick%len(cands)]
		rs.Scope = k.nextID
		k.nextID++
	case st.Kind == stepDeleteSharer:
		return k.resolveSharer(rs, st.Pick)
	case st.Kind == stepDelete:
		if len(k.extras) == 0 {
			return rs, "no extra scope alive"
		}
		rs.Scope = k.extras[st.Pick%len(k.extras)].num
	case st.Kind == stepRefreshOne:
		n := len(k.baseIDs) + len(k.extras)
		if i := st.Pick % n; i < len(k.baseIDs) {
			rs.Scope = i
		} else {
			rs.Scope = k.extras[i-len(k.baseIDs)].num
		}
	case st.Kind == stepPush:
		rs.Host, rs.Repo = st.Host, st.Pick
	case isFault(st.Kind):
		rs.Host, rs.Life = st.Host, st.Life
		if st.Kind == stepRepoHang || st.Kind == stepRepo500 {
			rs.Repo = st.Pick
		}
		if st.Kind == stepFlap {
			rs.Up, rs.Down = Dur(st.Up), Dur(st.Down)
		}
	}
	return rs, ""
}

// exec runs one resolved step, the soak's or a replay's. It returns why
// it was skipped ("" = it ran) and its error.
func (k *soak) exec(ctx context.Context, st SchedStep) (skip string, err error) {
	run, ok := stepRunners[st.Kind]
	if !ok {
		return "", fmt.Errorf("step kind %q has no runner", st.Kind)
	}
	sctx, cancel := context.WithTimeout(ctx, soakStepTimeout)
	defer cancel()
	return run(k, sctx, st)
}

// stepRunners run each kind of resolved step (soak_plan.go's
// stepWeights): each returns why it was skipped ("" = it ran) and its
// error.
var stepRunners = map[string]func(k *soak, ctx context.Context, st SchedStep) (string, error){
	stepPutNew:     (*soak).putExtra,
	stepPutShared:  (*soak).putExtra,
	stepDelete:     (*soak).deleteExtra,
	stepRefreshOne: (*soak).refreshOne,
	stepRefreshAll: func(k *soak, ctx context.Context, _ SchedStep) (string, error) {
		if err := k.Client.RefreshAll(ctx); err != nil {
			return "", fmt.Errorf("refresh all: %w", err)
		}
		return "", nil
	},
	stepPush: func(k *soak, ctx context.Context, st SchedStep) (string, error) {
		return "", k.scopes.Push(ctx, k.pool[st.Host][st.Repo])
	},
	stepFlap:      (*soak).faultStep,
	stepBlackhole: (*soak).faultStep,
	stepRepoHang:  (*soak).faultStep,
	stepRepo500:   (*soak).faultStep,
	stepRestart: func(k *soak, _ context.Context, _ SchedStep) (string, error) {
		if k.restartAt {
			return "a restart is already due at the next quiet point", nil
		}
		k.restartAt = true
		return "", nil
	},
	stepDeleteSharer: (*soak).deleteSharer,
}

// putExtra puts extra scope st.Scope on pool repo st.Repo of host
// st.Host.
func (k *soak) putExtra(ctx context.Context, st SchedStep) (string, error) {
	r := k.pool[st.Host][st.Repo]
	id := k.scopes.ID(st.Scope)
	sc, err := newScope(id, r.URL(), "main")
	if err != nil {
		return "", err
	}
	err = k.Client.PutScope(ctx, sc)
	var se *target.StatusError
	if !errors.As(err, &se) {
		// Count it as live even on a transport error: the put may
		// have happened, and deleting it later is harmless.
		k.extras = append(k.extras, soakScope{id: id, repo: r, num: st.Scope})
		k.scopes.notePut(id, r.URL())
		k.setLive()
	}
	if err != nil {
		return "", fmt.Errorf("put %s: %w", id, err)
	}
	return "", nil
}

// extra is the index of live extra scope num, or -1.
func (k *soak) extra(num int) int {
	return slices.IndexFunc(k.extras, func(e soakScope) bool { return e.num == num })
}

// deleteExtra deletes live extra scope st.Scope.
func (k *soak) deleteExtra(ctx context.Context, st SchedStep) (string, error) {
	i := k.extra(st.Scope)
	if i < 0 {
		return fmt.Sprintf("scope %d not alive", st.Scope), nil
	}
	e := k.extras[i]
	k.extras = slices.Delete(k.extras, i, i+1)
	k.setLive()
	k.scopes.learnClones([]Repo{*e.repo}) // its clone, while it is there to be found
	err := k.Client.DeleteScope(ctx, e.id)
	if err == nil || target.IsStatus(err, http.StatusNotFound) {
		k.scopes.deleted(e.id)
	}
	if err != nil && !target.IsStatus(err, http.StatusNotFound) {
		return "", fmt.Errorf("delete %s: %w", e.id, err)
	}
	return "", nil
}

// refreshOne refreshes scope st.Scope, baseline or extra.
func (k *soak) refreshOne(ctx context.Context, st SchedStep) (string, error) {
	var id string
	switch {
	case st.Scope < len(k.baseIDs):
		id = k.baseIDs[st.Scope]
	case k.extra(st.Scope) >= 0:
		id = k.extras[k.extra(st.Scope)].id
	default:
		return fmt.Sprintf("scope %d not alive", st.Scope), nil
	}
	if err := k.Client.Refresh(ctx, id); err != nil {
		return "", fmt.Errorf("refresh %s: %w", id, err)
	}
	return "", nil
}

// soakFaults is the catalog fault of each fault step: a network fault
// acts on the step's host, a repo fault on one of its pool repos.
var soakFaults = map[string]func(st SchedStep) string{
	stepFlap: func(st SchedStep) string {
		return fmt.Sprintf("flap:up=%s,down=%s", time.Duration(st.Up), time.Duration(st.Down))
	},
	stepBlackhole: func(SchedStep) string { return "blackhole" },
	stepRepoHang:  func(SchedStep) string { return "hang" },
	stepRepo500:   func(SchedStep) string { return "http500" },
}

// faultStep puts the step's fault on its host (flap, blackhole) or on a
// pool repo of it (repo-hang, repo-500) for the step's life.
func (k *soak) faultStep(ctx context.Context, st SchedStep) (string, error) {
	host := k.scopes.Host(st.Host)
	f := fault(soakFaults[st.Kind](st))
	key, repo := host.Name, ""
	if _, ok := f.(faults.RepoFault); ok {
		repo = k.pool[st.Host][st.Repo].Name
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
