package gates_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gitchaos/gitchaos/harness/fetcher/inprocess"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/internal/gates"
	"github.com/gitchaos/gitchaos/internal/race"
)

// regressionDir holds the checked-in shrunk reproducers (gitchaos soak
// --regressions replays them).
const regressionDir = "../../testdata/regressions"

func regressionFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(regressionDir, "*.yaml"))
	if err != nil || len(files) < 2 {
		t.Fatalf("regression files %v (%v): want the two reference fetcher reproducers", files, err)
	}
	return files
}

// raceScale stretches the reproducers' pauses under the race detector:
// it slows the target about fivefold, and a reproducer's failure may need
// a clone to finish within a pause (fd-leak-on-delete: the clone opens
// the repository the delete then fails to free).
func raceScale() float64 {
	if race.Enabled {
		return 5
	}
	return 1
}

// replay runs sched against the in-process reference fetcher with mutants.
func replay(t *testing.T, sched *gates.Schedule, mutants []string) *result.Run {
	t.Helper()
	run, err := gates.RunReplay(context.Background(), gates.ReplayOptions{
		PauseScale: raceScale(),
		Options:    gates.Options{Targets: &inprocess.Factory{Mutants: mutants, TempDir: t.TempDir()}, Logger: slog.New(slog.DiscardHandler)},
		Schedule:   sched,
	})
	if err != nil {
		t.Fatalf("RunReplay: %v", err)
	}
	if sc := run.Scenarios[0]; sc.Error != "" {
		t.Fatalf("replay error: %s", sc.Error)
	}
	return run
}

// TestRegressionsReplay: every checked-in reproducer fails by the check
// ID it records with its mutant on, and passes on the correct fetcher.
func TestRegressionsReplay(t *testing.T) {
	for _, f := range regressionFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			sched, err := gates.LoadSchedule(f)
			if err != nil {
				t.Fatal(err)
			}
			if sched.Target.Kind != "in-process" || len(sched.Target.Mutants) == 0 || len(sched.Failed) == 0 {
				t.Fatalf("%s: target %+v, failed %v: want a reference fetcher mutant and its failed check", f, sched.Target, sched.Failed)
			}
			if sched.Len() > 10 {
				t.Errorf("%s: %d steps, want a shrunk reproducer (<= 10)", f, sched.Len())
			}
			id := sched.Failed[0].ID
			bad := replay(t, sched, sched.Target.Mutants)
			c, ok := check(bad.Scenarios[0], id)
			if !ok || c.Verdict != result.Fail {
				t.Errorf("mutant %v: %s %+v (found %v), want a failure:\n%s", sched.Target.Mutants, id, c, ok, gates.Explain(bad.Scenarios[0]))
			}
			good := replay(t, sched, nil)
			if v := good.Verdict(); v != result.Pass {
				t.Errorf("correct fetcher: verdict %s, want pass:\n%s", v, gates.Explain(good.Scenarios[0]))
			}
		})
	}
}

// TestReplayDeterministicUnderLoad: replaying a shrunk file executes the
// same step list, with the same outcomes, on a quiet machine and beside
// two busy loops, and it is the list the file holds.
func TestReplayDeterministicUnderLoad(t *testing.T) {
	for _, f := range regressionFiles(t) {
		sched, err := gates.LoadSchedule(f)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, st := range sched.Steps {
			st.Pause = 0 // not in the label; stretched under -race
			want = append(want, st.String()+" → "+st.Outcome)
		}
		quiet := steps(replay(t, sched, sched.Target.Mutants).Scenarios[0])
		stop := cpuHogs(t, 2)
		loaded := steps(replay(t, sched, sched.Target.Mutants).Scenarios[0])
		stop()
		if !slices.Equal(quiet, want) || !slices.Equal(loaded, want) {
			t.Errorf("%s: executed steps differ:\nfile:\n%s\nquiet:\n%s\nunder load:\n%s", f,
				strings.Join(want, "\n"), strings.Join(quiet, "\n"), strings.Join(loaded, "\n"))
		}
	}
}

// TestShrinkDriver runs the shrinker on a checked-in one-step reproducer
// (a few replays): it cannot shrink below one step, reports its progress
// and keeps the check; and it refuses, after one replay, a check the
// schedule does not fail.
func TestShrinkDriver(t *testing.T) {
	sched, err := gates.LoadSchedule(filepath.Join(regressionDir, "no-purge-on-delete.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	opts := gates.Options{Targets: &inprocess.Factory{Mutants: sched.Target.Mutants, TempDir: t.TempDir()}, Logger: slog.New(slog.DiscardHandler)}
	var calls int
	res, err := gates.Shrink(context.Background(), gates.ShrinkOptions{Options: opts, Schedule: sched, Progress: func(gates.ShrinkStatus) { calls++ }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Schedule.Len() != 1 || res.Status.Candidates < 2 || calls < res.Status.Candidates {
		t.Errorf("shrunk to %d steps after %d candidates (%d progress calls), want 1 step, >= 2 candidates", res.Schedule.Len(), res.Status.Candidates, calls)
	}
	if err := res.Schedule.Validate(); err != nil {
		t.Errorf("result invalid: %v", err)
	}
	_, err = gates.Shrink(context.Background(), gates.ShrinkOptions{Options: opts, Schedule: sched, Check: "soak.no-step-error"})
	if err == nil || !strings.Contains(err.Error(), "does not fail") {
		t.Errorf("shrink of a check the schedule passes: %v, want 'does not fail'", err)
	}
}
