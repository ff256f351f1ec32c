package result

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ParseShard parses "i/n" (1 <= i <= n) as shard i of n.
func ParseShard(s string) (Shard, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(strings.TrimSpace(a))
	n, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("shard %q: want i/n, e.g. 1/3", s)
	}
	if n < 1 || i < 1 || i > n {
		return Shard{}, fmt.Errorf("shard %q: want 1 <= i <= n", s)
	}
	return Shard{Index: i, Total: n}, nil
}

// Pick returns the items of shard s: items Index-1, Index-1+Total, ...
// (round-robin in the given order, so every shard gets a like share of an
// ordered list, and the same list always splits the same way). It records
// the whole list in s.Of.
func (s *Shard) Pick(items []string) []string {
	s.Of = append([]string(nil), items...)
	var out []string
	for k := s.Index - 1; k < len(items); k += s.Total {
		out = append(out, items[k])
	}
	return out
}

// Merge joins the runs of the shards of one selection into one run, as if
// it had run unsharded: scenarios in the selection's order, each part
// recorded in Parts (sources[i] names parts[i], e.g. its file). The parts
// must agree on kind, seed, target, testbed, mutants, settings, gitchaos
// version and the selection split, and be exactly the shards 1..n, each
// once; otherwise the error names what disagrees and where.
func Merge(parts []*Run, sources []string) (*Run, error) {
	if len(parts) == 0 {
		return nil, errors.New("merge: no runs")
	}
	name := func(i int) string {
		if i < len(sources) && sources[i] != "" {
			return sources[i]
		}
		return fmt.Sprintf("part %d", i+1)
	}
	first := parts[0]
	var errs []error
	for i, p := range parts {
		if p.Shard == nil {
			errs = append(errs, fmt.Errorf("%s: not a shard (run without --shard); merge joins the shards of one run", name(i)))
			continue
		}
		if i == 0 {
			continue
		}
		for _, d := range []struct{ what, a, b string }{
			{"kind", first.Kind, p.Kind},
			{"seed", strconv.FormatInt(first.Seed, 10), strconv.FormatInt(p.Seed, 10)},
			{"target", first.Target, p.Target},
			{"testbed", first.Testbed, p.Testbed},
			{"mutants", strings.Join(first.Mutants, ","), strings.Join(p.Mutants, ",")},
			{"settings", first.Settings, p.Settings},
			{"gitchaos version", first.Versions["gitchaos"], p.Versions["gitchaos"]},
		} {
			if d.a != d.b {
				errs = append(errs, fmt.Errorf("%s and %s disagree on %s: %q vs %q", name(0), name(i), d.what, d.a, d.b))
			}
		}
		if first.Shard != nil {
			if p.Shard.Total != first.Shard.Total {
				errs = append(errs, fmt.Errorf("%s is shard %s, %s is shard %s: different shard counts", name(0), first.Shard, name(i), p.Shard))
			}
			if !slices.Equal(p.Shard.Of, first.Shard.Of) {
				errs = append(errs, fmt.Errorf("%s and %s split different selections: %s vs %s", name(0), name(i), strings.Join(first.Shard.Of, ","), strings.Join(p.Shard.Of, ",")))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	total := first.Shard.Total
	seen := map[int]int{} // shard index -> part
	for i, p := range parts {
		if j, dup := seen[p.Shard.Index]; dup {
			errs = append(errs, fmt.Errorf("overlapping shards: %s and %s are both shard %s", name(j), name(i), p.Shard))
			continue
		}
		seen[p.Shard.Index] = i
	}
	for k := 1; k <= total; k++ {
		if _, ok := seen[k]; !ok {
			errs = append(errs, fmt.Errorf("missing shard %d/%d (it runs %s)", k, total, strings.Join((&Shard{Index: k, Total: total}).Pick(first.Shard.Of), ",")))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	byName := map[string]*Scenario{}
	from := map[string]string{}
	merged := &Run{
		Kind: first.Kind, Seed: first.Seed, Target: first.Target, Testbed: first.Testbed,
		Mutants: first.Mutants, Versions: first.Versions, Settings: first.Settings,
	}
	var end time.Time
	for i, p := range parts {
		part := Part{ID: p.ID, Seed: p.Seed, Shard: p.Shard, Started: p.Started, Duration: p.Duration}
		if i < len(sources) {
			part.Source = sources[i]
		}
		if !slices.Equal((&Shard{Index: p.Shard.Index, Total: total}).Pick(first.Shard.Of), scenarioNames(p)) {
			errs = append(errs, fmt.Errorf("%s (shard %s) ran %s, want %s (interrupted?)", name(i), p.Shard,
				strings.Join(scenarioNames(p), ","), strings.Join((&Shard{Index: p.Shard.Index, Total: total}).Pick(first.Shard.Of), ",")))
		}
		for _, sc := range p.Scenarios {
			if prev, dup := from[sc.Name]; dup {
				errs = append(errs, fmt.Errorf("scenario %s is in %s and %s", sc.Name, prev, name(i)))
				continue
			}
			from[sc.Name] = name(i)
			byName[sc.Name] = sc
			part.Scenarios = append(part.Scenarios, sc.Name)
		}
		if merged.Started.IsZero() || p.Started.Before(merged.Started) {
			merged.Started = p.Started
		}
		if e := p.Started.Add(time.Duration(float64(p.Duration) * float64(time.Second))); e.After(end) {
			end = e
		}
		merged.Parts = append(merged.Parts, part)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sort.SliceStable(merged.Parts, func(a, b int) bool { return merged.Parts[a].Shard.Index < merged.Parts[b].Shard.Index })
	for _, n := range first.Shard.Of {
		merged.Scenarios = append(merged.Scenarios, byName[n])
	}
	merged.Duration = Secs(end.Sub(merged.Started))
	merged.ID = fmt.Sprintf("%s-%d-merged-%d-shards-%s", merged.Kind, merged.Seed, total, merged.Started.UTC().Format("20060102T150405Z"))
	return merged, nil
}

func scenarioNames(r *Run) []string {
	var out []string
	for _, sc := range r.Scenarios {
		out = append(out, sc.Name)
	}
	return out
}
