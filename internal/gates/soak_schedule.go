// The soak's executed schedule as data (schedule.yaml): every step with
// its resolved arguments, fault windows in steps, quiet points, the
// target and its settings. A replay executes the listed steps, not a
// generator, so a change to the generator cannot invalidate it.

package gates

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gitchaos/gitchaos/harness/target"
)

// ScheduleFormat is the format version a schedule file carries; a file
// with another one is refused.
const ScheduleFormat = "gitchaos-schedule/1"

// Schedule is an executed soak schedule, or a shrunk one: what a replay
// runs.
type Schedule struct {
	Format   string `yaml:"format"`
	Gitchaos string `yaml:"gitchaos"` // the version that wrote it
	// Source says where it came from: the soak's seed and replay line, or
	// the schedule it was shrunk from.
	Source string         `yaml:"source,omitempty"`
	Target ScheduleTarget `yaml:"target"`
	// Settings of the target (git timeout, workers, ...).
	Settings ScheduleSettings `yaml:"settings"`
	Testbed  string           `yaml:"testbed"`          // local or docker
	Engine   string           `yaml:"engine,omitempty"` // the local testbed's git server
	Seed     int64            `yaml:"seed"`             // names repos and scopes (not the steps)
	Hosts    int              `yaml:"hosts"`
	// Transport is the git hosts' transport ("": http).
	Transport string `yaml:"transport,omitempty"`
	// Baseline scopes, live for the whole run (scope numbers 0..Baseline-1).
	Baseline int `yaml:"baseline_scopes"`
	Pool     int `yaml:"pool_repos_per_host"`
	MaxExtra int `yaml:"max_extra_scopes"`
	// Window and StepsPerWindow are the soak's (a replay paces by each
	// step's pause and ends windows at QuietAfter, not by these).
	Window         Dur `yaml:"window"`
	StepsPerWindow int `yaml:"steps_per_window"`
	SampleInterval Dur `yaml:"sample_interval"`
	// Steps in execution order, each with its resolved arguments.
	Steps []SchedStep `yaml:"steps"`
	// QuietAfter lists the quiet points: quiet point i comes after the
	// step numbered QuietAfter[i] (and before the first step numbered
	// higher). A run always ends with one.
	QuietAfter []int `yaml:"quiet_after"`
	// Faults restates the fault steps as windows in steps (read-only:
	// derived from Steps when written).
	Faults []SchedFault `yaml:"faults,omitempty"`
	// Failed are the checks that failed in the run that wrote the file.
	Failed []SchedCheck `yaml:"failed,omitempty"`
}

// ScheduleTarget is the target a schedule ran against.
type ScheduleTarget struct {
	// Kind is in-process (the reference fetcher), cmd (--target-cmd) or
	// url (--target).
	Kind    string   `yaml:"kind"`
	Mutants []string `yaml:"mutants,omitempty"`
	Cmd     string   `yaml:"cmd,omitempty"`
	Env     []string `yaml:"env,omitempty"`
	URL     string   `yaml:"url,omitempty"`
	// Describe is the target as reports name it.
	Describe string `yaml:"describe,omitempty"`
}

// ScheduleSettings are the target's settings.
type ScheduleSettings struct {
	GitTimeout      Dur `yaml:"git_timeout"`
	MaxWorkers      int `yaml:"max_workers"`
	SyncConcurrency int `yaml:"sync_concurrency"`
	Shards          int `yaml:"shards"`
}

// SchedStep is one executed step with the arguments it resolved to.
// Scope numbers name scopes (scope ids are derived from them): 0 to
// Baseline-1 are the baseline scopes, higher ones extra scopes put by a
// put step. Repo is a pool repo of Host (0 to Pool-1).
type SchedStep struct {
	N     int    `yaml:"step"` // its number in the original soak
	Kind  string `yaml:"kind"`
	Host  int    `yaml:"host,omitempty"`
	Repo  int    `yaml:"repo,omitempty"`
	Scope int    `yaml:"scope,omitempty"`
	Life  int    `yaml:"life,omitempty"` // a fault's steps: recovered before step N+Life
	Up    Dur    `yaml:"up,omitempty"`   // flap
	Down  Dur    `yaml:"down,omitempty"` // flap
	Pause Dur    `yaml:"pause,omitempty"`
	// Skipped says why the soak skipped it; a replay skips it too.
	Skipped string `yaml:"skipped,omitempty"`
	// Outcome is what happened when the schedule was written: ran,
	// skipped, error: <class>.
	Outcome string `yaml:"outcome,omitempty"`
}

// SchedFault is a fault step as a window in steps.
type SchedFault struct {
	Step  int    `yaml:"step"`
	Fault string `yaml:"fault"`
	On    string `yaml:"target"` // h1, or h1/repo 3
	Until int    `yaml:"until"`  // recovered before this step (or at the next quiet point)
}

// SchedCheck is a check that failed, with its numbers.
type SchedCheck struct {
	ID          string  `yaml:"id"`
	Measured    string  `yaml:"measured"`
	Budget      string  `yaml:"budget"`
	Value       float64 `yaml:"value"`
	Explanation string  `yaml:"explanation,omitempty"`
}

// Dur is a duration written as text ("1.5s") in a schedule.
type Dur time.Duration

// MarshalYAML writes d as a duration string.
func (d Dur) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// UnmarshalYAML reads a duration string.
func (d *Dur) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Dur(v)
	return nil
}

// IsZero lets omitempty drop a zero duration.
func (d Dur) IsZero() bool { return d == 0 }

// isFault reports whether kind is a fault step.
func isFault(kind string) bool { return soakFaults[kind] != nil }

// isPut reports whether kind puts an extra scope.
func isPut(kind string) bool { return kind == stepPutNew || kind == stepPutShared }

// usesRepo reports whether a step of kind names a pool repo.
func usesRepo(kind string) bool {
	return isPut(kind) || kind == stepPush || kind == stepRepoHang || kind == stepRepo500
}

// usesHost reports whether a step of kind names a host.
func usesHost(kind string) bool { return usesRepo(kind) || kind == stepFlap || kind == stepBlackhole }

// String renders the step as the soak's step markers do, resolved.
func (st SchedStep) String() string {
	switch {
	case st.Kind == stepFlap:
		return fmt.Sprintf("#%d flap h%d %d steps (up %v, down %v)", st.N, st.Host, st.Life, time.Duration(st.Up), time.Duration(st.Down))
	case st.Kind == stepBlackhole:
		return fmt.Sprintf("#%d blackhole h%d %d steps", st.N, st.Host, st.Life)
	case isFault(st.Kind):
		return fmt.Sprintf("#%d %s h%d repo %d %d steps", st.N, st.Kind, st.Host, st.Repo, st.Life)
	case isPut(st.Kind):
		return fmt.Sprintf("#%d %s h%d repo %d scope %d", st.N, st.Kind, st.Host, st.Repo, st.Scope)
	case st.Kind == stepPush:
		return fmt.Sprintf("#%d push h%d repo %d", st.N, st.Host, st.Repo)
	case isDelete(st.Kind) || st.Kind == stepRefreshOne:
		return fmt.Sprintf("#%d %s scope %d", st.N, st.Kind, st.Scope)
	}
	return fmt.Sprintf("#%d %s", st.N, st.Kind)
}

// Len is the schedule's size: the steps that do something (a skipped
// step is a no-op).
func (s *Schedule) Len() int {
	n := 0
	for _, st := range s.Steps {
		if st.Skipped == "" {
			n++
		}
	}
	return n
}

// Clone is a deep copy of s.
func (s *Schedule) Clone() *Schedule {
	c := *s
	c.Steps = slices.Clone(s.Steps)
	c.QuietAfter = slices.Clone(s.QuietAfter)
	c.Faults = slices.Clone(s.Faults)
	c.Failed = slices.Clone(s.Failed)
	c.Target.Mutants = slices.Clone(s.Target.Mutants)
	c.Target.Env = slices.Clone(s.Target.Env)
	return &c
}

// windows splits the steps at the quiet points: one slice of steps per
// quiet point (possibly empty).
func (s *Schedule) windows() [][]SchedStep {
	out := make([][]SchedStep, len(s.QuietAfter))
	w := 0
	for _, st := range s.Steps {
		for w < len(s.QuietAfter)-1 && st.N > s.QuietAfter[w] {
			w++
		}
		out[w] = append(out[w], st)
	}
	return out
}

// Validate reports what makes s unreplayable: a wrong format, steps out
// of order, an argument out of range, a delete or refresh of a scope that
// is not alive then, a fault without a life. Every schedule a soak writes
// and every candidate the shrinker tries is valid.
func (s *Schedule) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if s.Format != ScheduleFormat {
		bad("format %q: want %q", s.Format, ScheduleFormat)
	}
	switch s.Target.Kind {
	case "in-process", "cmd", "url":
	default:
		bad("target kind %q: want in-process, cmd or url", s.Target.Kind)
	}
	if s.Hosts < 1 || s.Hosts > 3 {
		bad("hosts %d: want 1 to 3", s.Hosts)
	}
	if s.Baseline < 1 || s.Pool < 1 || s.MaxExtra < 1 {
		bad("baseline_scopes %d, pool_repos_per_host %d, max_extra_scopes %d: each must be >= 1", s.Baseline, s.Pool, s.MaxExtra)
	}
	if s.SampleInterval < Dur(10*time.Millisecond) {
		bad("sample_interval %v: must be >= 10ms", time.Duration(s.SampleInterval))
	}
	if err := s.settings().Validate(); err != nil {
		bad("settings: %v", err)
	}
	if len(s.QuietAfter) == 0 {
		bad("no quiet point: a run ends with one")
	}
	if !slices.IsSorted(s.QuietAfter) || len(slices.Compact(slices.Clone(s.QuietAfter))) != len(s.QuietAfter) {
		bad("quiet_after %v: must increase", s.QuietAfter)
	}
	if len(s.Steps) > 0 && len(s.QuietAfter) > 0 && s.Steps[len(s.Steps)-1].N > s.QuietAfter[len(s.QuietAfter)-1] {
		bad("step #%d after the last quiet point (after #%d)", s.Steps[len(s.Steps)-1].N, s.QuietAfter[len(s.QuietAfter)-1])
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	prev := -1
	for _, win := range s.windows() {
		alive := map[int]bool{}
		extras := 0
		for _, st := range win {
			if st.N <= prev {
				bad("step #%d after #%d: numbers must increase", st.N, prev)
			}
			prev = st.N
			if _, ok := stepRunners[st.Kind]; !ok {
				bad("step #%d: unknown kind %q", st.N, st.Kind)
				continue
			}
			if st.Skipped != "" {
				continue
			}
			if usesHost(st.Kind) && (st.Host < 0 || st.Host >= s.Hosts) {
				bad("step #%d %s: host %d of %d", st.N, st.Kind, st.Host, s.Hosts)
			}
			if usesRepo(st.Kind) && (st.Repo < 0 || st.Repo >= s.Pool) {
				bad("step #%d %s: repo %d of a pool of %d", st.N, st.Kind, st.Repo, s.Pool)
			}
			if isFault(st.Kind) && st.Life < 1 {
				bad("step #%d %s: life %d: must be >= 1", st.N, st.Kind, st.Life)
			}
			if st.Kind == stepFlap && (st.Up <= 0 || st.Down <= 0) {
				bad("step #%d flap: up %v and down %v must be > 0", st.N, time.Duration(st.Up), time.Duration(st.Down))
			}
			if st.Pause < 0 {
				bad("step #%d: pause %v < 0", st.N, time.Duration(st.Pause))
			}
			switch {
			case isPut(st.Kind):
				if st.Scope < s.Baseline || alive[st.Scope] {
					bad("step #%d %s: scope %d is a baseline scope or already alive", st.N, st.Kind, st.Scope)
				}
				if extras >= s.MaxExtra {
					bad("step #%d %s: more than %d extra scopes alive", st.N, st.Kind, s.MaxExtra)
				}
				alive[st.Scope] = true
				extras++
			case isDelete(st.Kind):
				if !alive[st.Scope] {
					bad("step #%d delete: scope %d is not alive (a delete needs its put in the same window)", st.N, st.Scope)
				}
				delete(alive, st.Scope)
				extras--
			case st.Kind == stepRefreshOne:
				if st.Scope >= s.Baseline && !alive[st.Scope] {
					bad("step #%d refresh-one: scope %d is not alive (a refresh needs its scope)", st.N, st.Scope)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// settings are the target settings of s.
func (s *Schedule) settings() target.Settings {
	return target.Settings{
		GitTimeout: time.Duration(s.Settings.GitTimeout), MaxWorkers: s.Settings.MaxWorkers,
		SyncConcurrency: s.Settings.SyncConcurrency, Shards: s.Settings.Shards,
	}
}

// Settings are the target settings the schedule ran with.
func (s *Schedule) TargetSettings() target.Settings { return s.settings() }

// repair drops what a candidate's removals left dangling, in order: a
// delete or refresh-one of a scope whose put is gone, a second put of a
// scope still alive, a put beyond the cap; and quiet points with no step
// before them other than the last, and steps beyond the last quiet point.
// The result is valid when s was written by a soak and only lost steps.
func (s *Schedule) repair() {
	var kept []SchedStep
	for _, win := range s.windows() {
		alive := map[int]bool{}
		for _, st := range win {
			switch {
			case st.Skipped != "":
				continue // a no-op: dropped
			case isPut(st.Kind):
				if alive[st.Scope] || len(alive) >= s.MaxExtra {
					continue
				}
				alive[st.Scope] = true
			case isDelete(st.Kind):
				if !alive[st.Scope] {
					continue
				}
				delete(alive, st.Scope)
			case st.Kind == stepRefreshOne:
				if st.Scope >= s.Baseline && !alive[st.Scope] {
					continue
				}
			}
			kept = append(kept, st)
		}
	}
	s.Steps = kept
	s.deriveFaults()
}

// dropEmptyWindows removes quiet points that end a window with no step,
// keeping at least one.
func (s *Schedule) dropEmptyWindows() {
	wins := s.windows()
	var q []int
	for i, w := range wins {
		if len(w) > 0 {
			q = append(q, s.QuietAfter[i])
		}
	}
	if len(q) == 0 && len(s.QuietAfter) > 0 {
		q = []int{s.QuietAfter[len(s.QuietAfter)-1]}
	}
	if len(q) > 0 && len(s.Steps) > 0 {
		// The last quiet point keeps its number: nothing runs after it.
		q[len(q)-1] = max(q[len(q)-1], s.Steps[len(s.Steps)-1].N)
	}
	s.QuietAfter = q
}

// deriveFaults fills Faults from the fault steps.
func (s *Schedule) deriveFaults() {
	s.Faults = nil
	for _, st := range s.Steps {
		if !isFault(st.Kind) || st.Skipped != "" {
			continue
		}
		on := fmt.Sprintf("h%d", st.Host)
		if st.Kind == stepRepoHang || st.Kind == stepRepo500 {
			on += fmt.Sprintf("/repo %d", st.Repo)
		}
		s.Faults = append(s.Faults, SchedFault{Step: st.N, Fault: st.Kind, On: on, Until: st.N + st.Life})
	}
}

// Marshal renders s as YAML, with a header comment saying how to replay
// it.
func (s *Schedule) Marshal() ([]byte, error) {
	s.deriveFaults()
	var b bytes.Buffer
	fmt.Fprintf(&b, "# gitchaos schedule: %d steps, %d quiet points. Replay: gitchaos replay FILE\n", s.Len(), len(s.QuietAfter))
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(s); err != nil {
		return nil, fmt.Errorf("encode schedule: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode schedule: %w", err)
	}
	return compactSteps(b.Bytes()), nil
}

// compactSteps is the YAML with each step and fault on one line (flow
// style): a file of hundreds of steps stays readable and diffable. A
// step's host, repo and scope are spelt out where its kind has them,
// zero included.
func compactSteps(y []byte) []byte {
	var n yaml.Node
	if err := yaml.Unmarshal(y, &n); err != nil || len(n.Content) == 0 {
		return y
	}
	root := n.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch root.Content[i].Value {
		case "quiet_after":
			root.Content[i+1].Style = yaml.FlowStyle
		case "faults":
			for _, item := range root.Content[i+1].Content {
				item.Style = yaml.FlowStyle
			}
		case "steps":
			for _, item := range root.Content[i+1].Content {
				item.Style = yaml.FlowStyle
				spellZeros(item)
			}
		}
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return y
	}
	_ = enc.Close()
	return b.Bytes()
}

// spellZeros adds the zero host, repo or scope omitempty dropped from a
// step whose kind has them, after its kind.
func spellZeros(step *yaml.Node) {
	kind := ""
	has := map[string]bool{}
	for j := 0; j+1 < len(step.Content); j += 2 {
		has[step.Content[j].Value] = true
		if step.Content[j].Value == "kind" {
			kind = step.Content[j+1].Value
		}
	}
	var add []*yaml.Node
	for _, f := range []struct {
		key  string
		uses bool
	}{
		{"host", usesHost(kind)}, {"repo", usesRepo(kind)},
		{"scope", isPut(kind) || isDelete(kind) || kind == stepRefreshOne},
	} {
		if f.uses && !has[f.key] {
			add = append(add, &yaml.Node{Kind: yaml.ScalarNode, Value: f.key}, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: "0"})
		}
	}
	if len(add) == 0 || len(step.Content) < 4 {
		return
	}
	// after step and kind, before the rest, in host, repo, scope order
	rest := slices.Clone(step.Content[4:])
	var mid []*yaml.Node
	for _, key := range []string{"host", "repo", "scope"} {
		for j := 0; j+1 < len(add); j += 2 {
			if add[j].Value == key {
				mid = append(mid, add[j], add[j+1])
			}
		}
		for j := 0; j+1 < len(rest); j += 2 {
			if rest[j].Value == key {
				mid = append(mid, rest[j], rest[j+1])
				rest = slices.Delete(rest, j, j+2)
				break
			}
		}
	}
	step.Content = append(append(step.Content[:4], mid...), rest...)
}

// WriteFile writes s to path.
func (s *Schedule) WriteFile(path string) error {
	b, err := s.Marshal()
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write schedule: %w", err)
	}
	return nil
}

// ParseSchedule reads a schedule and validates it; unknown fields are an
// error (a misspelt field must not be ignored).
func ParseSchedule(b []byte) (*Schedule, error) {
	var s Schedule
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("parse schedule: %w", err)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("invalid schedule: %w", err)
	}
	return &s, nil
}

// LoadSchedule reads a schedule file, or the schedule.yaml beside a
// report.json (a report dir or its report.json may be given).
func LoadSchedule(path string) (*Schedule, error) {
	p := path
	if fi, err := os.Stat(p); err == nil && fi.IsDir() {
		p += "/schedule.yaml"
	} else if strings.HasSuffix(p, ".json") {
		p = strings.TrimSuffix(p, "report.json") + "schedule.yaml"
		if !strings.HasSuffix(p, "schedule.yaml") {
			return nil, fmt.Errorf("%s: a report is named report.json, with schedule.yaml beside it", path)
		}
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read schedule: %w", err)
	}
	s, err := ParseSchedule(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return s, nil
}
