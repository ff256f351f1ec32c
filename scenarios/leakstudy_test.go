package scenarios_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/pyopal"
	"github.com/gitchaos/gitchaos/harness/fetcher/inprocess"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
	"github.com/gitchaos/gitchaos/scenarios"
)

// Recorded leak series: the study behind the leak verdict (BENCHMARKS.md,
// "Leak verdicts on a foreign server") runs churn at a fixed length
// against the Python target, clean and with leaks of known size per
// deleted scope, and keeps every run's per-cycle series as test data
// (harness/flat/testdata/leakseries/*.json); harness/flat's tests and its
// study replay them through the verdict.
//
//	GITCHAOS_LEAK_STUDY=harness/flat/testdata/leakseries \
//	GITCHAOS_LEAK_STUDY_RUNS=8 GITCHAOS_LEAK_STUDY_CYCLES=40 \
//	GITCHAOS_LEAK_STUDY_ROWS='keep-64k' [GITCHAOS_LEAK_STUDY_SCOPES=1] \
//	go test -count=1 -timeout 0 -run TestLeakStudyRecord ./scenarios/

// leakRow is one target configuration of the study.
type leakRow struct {
	name      string // file name stem
	o         pyopal.Options
	leaky     string  // metric the leak shows on ("" = clean)
	perScope  float64 // leak per deleted scope in the leaky metric's unit
	inProcess bool    // the in-process reference fetcher instead of the Python server
}

var leakRows = []leakRow{
	{name: "pyopal-clean"},
	{name: "pyopal-keep-64k", o: pyopal.Options{Bugs: []string{"memory-per-deleted-scope"}, KeepBytes: 64 << 10}, leaky: "rss_bytes", perScope: 64 << 10},
	{name: "pyopal-keep-128k", o: pyopal.Options{Bugs: []string{"memory-per-deleted-scope"}, KeepBytes: 128 << 10}, leaky: "rss_bytes", perScope: 128 << 10},
	{name: "pyopal-thread-per-delete", o: pyopal.Options{Bugs: []string{"thread-per-delete"}}, leaky: "threads", perScope: 1},
	{name: "pyopal-children-not-reaped", o: pyopal.Options{Bugs: []string{"children-not-reaped"}}, leaky: "processes", perScope: 1},
	{name: "pyopal-keep-32k", o: pyopal.Options{Bugs: []string{"memory-per-deleted-scope"}, KeepBytes: 32 << 10}, leaky: "rss_bytes", perScope: 32 << 10},
	{name: "pyopal-keep-256k", o: pyopal.Options{Bugs: []string{"memory-per-deleted-scope"}, KeepBytes: 256 << 10}, leaky: "rss_bytes", perScope: 256 << 10},
	{name: "inprocess-clean", inProcess: true},
}

// LeakRecording is one row's recorded runs (the test data format).
type LeakRecording struct {
	Row      string    `json:"row"`
	Target   string    `json:"target"`
	Scopes   int       `json:"scopes"` // deleted per cycle
	Leaky    string    `json:"leaky,omitempty"`
	PerScope float64   `json:"per_scope,omitempty"`
	Command  string    `json:"command"`
	Recorded string    `json:"recorded"` // date and machine
	Runs     []LeakRun `json:"runs"`
}

// LeakRun is one run: per-cycle values per metric and the seconds from
// the scenario's start to the end of each cycle.
type LeakRun struct {
	Series map[string][]float64 `json:"series"`
	CycleS []float64            `json:"cycle_end_s"`
}

func envInt(t *testing.T, k string, def int) int {
	t.Helper()
	v := os.Getenv(k)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", k, v, err)
	}
	return n
}

// TestLeakStudyRecord records churn series for the leak study (runs only
// with GITCHAOS_LEAK_STUDY set to the output dir; appends to a row's file).
func TestLeakStudyRecord(t *testing.T) {
	dir := os.Getenv("GITCHAOS_LEAK_STUDY")
	if dir == "" {
		t.Skip("set GITCHAOS_LEAK_STUDY=<dir> to record the leak study's series")
	}
	runs := envInt(t, "GITCHAOS_LEAK_STUDY_RUNS", 8)
	cycles := envInt(t, "GITCHAOS_LEAK_STUDY_CYCLES", 40)
	scopes := envInt(t, "GITCHAOS_LEAK_STUDY_SCOPES", 8)
	re := regexp.MustCompile(os.Getenv("GITCHAOS_LEAK_STUDY_ROWS"))
	host, _ := os.Hostname()
	for _, row := range leakRows {
		if !re.MatchString(row.name) {
			continue
		}
		t.Run(row.name, func(t *testing.T) {
			stem := row.name
			if scopes != 8 {
				stem += fmt.Sprintf("-%dscope", scopes)
			}
			path := filepath.Join(dir, stem+".json")
			rec := LeakRecording{Row: stem, Target: "pyopal", Scopes: scopes, Leaky: row.leaky, PerScope: row.perScope,
				Command: "GITCHAOS_LEAK_STUDY=" + dir + " go test -count=1 -timeout 0 -run TestLeakStudyRecord ./scenarios/"}
			if row.inProcess {
				rec.Target = "in-process reffetcher"
			}
			if b, err := os.ReadFile(path); err == nil {
				if err := json.Unmarshal(b, &rec); err != nil {
					t.Fatalf("%s: %v", path, err)
				}
			}
			rec.Recorded = fmt.Sprintf("%s, %s (%d cycles x %d scopes)", time.Now().UTC().Format("2006-01-02"), host, cycles, scopes)
			for i := range runs {
				var f target.Factory
				var opts []scenarios.Option
				if row.inProcess {
					f = &inprocess.Factory{TempDir: t.TempDir()}
				} else {
					f = pyopalTarget(t, row.o)
					opts = append(opts, scenarios.WithSettings(pyopalSettings("churn")))
				}
				t0 := time.Now()
				res := scenarios.Measure(t, f, scenarios.ChurnParams{Cycles: cycles, MaxCycles: cycles, Scopes: scopes}, opts...)
				if res.Error != "" {
					t.Fatalf("run %d: %s", i, res.Error)
				}
				run := LeakRun{Series: res.CycleValues()}
				run.CycleS = cycleEnds(res)
				rec.Runs = append(rec.Runs, run)
				t.Logf("run %d: %d cycles in %v", i, len(run.CycleS), time.Since(t0).Round(time.Millisecond))
				b, err := json.MarshalIndent(rec, "", " ")
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// cycleEnds are the seconds from the start to the end of each cycle: the
// next cycle's marker, the last one's end the scenario's.
func cycleEnds(res *result.Scenario) []float64 {
	var starts []float64
	for _, m := range res.Markers {
		if m.Kind == "cycle" {
			starts = append(starts, float64(m.At))
		}
	}
	var ends []float64
	for i := range starts {
		if i+1 < len(starts) {
			ends = append(ends, starts[i+1])
		} else {
			ends = append(ends, float64(res.Duration))
		}
	}
	return ends
}
