package compare

import "github.com/gitchaos/gitchaos/harness/result"

// checkKey is a check's identity across runs: its scenario and its
// declared ID, or its title in a report written before checks had IDs
// (such a report pairs only with another of its kind).
func checkKey(scenario string, c result.Check) string {
	if c.ID != "" {
		return scenario + "/" + c.ID
	}
	return scenario + "/" + c.Name // a report written before checks had IDs
}

// FromRuns pairs the checks of saved runs by key (scenario/check): one
// Check per key found on both sides, each run contributing one
// observation (its first, should a run repeat a check), in the order the
// keys first appear (base runs first).
// Keys found on one side only are returned apart, in the same order.
func FromRuns(base, head []*result.Run) (checks []Check, onlyBase, onlyHead []string) {
	type entry struct {
		c                    Check
		base, head, fromPass bool
		units                [2][]string // per observation, base and head
	}
	byKey := map[string]*entry{}
	var order []string
	add := func(runs []*result.Run, isHead bool) {
		for _, r := range runs {
			seen := map[string]bool{} // a run gives one observation per check
			for _, sc := range r.Scenarios {
				for _, ch := range sc.Checks {
					k := checkKey(sc.Name, ch)
					if seen[k] {
						continue
					}
					seen[k] = true
					e := byKey[k]
					if e == nil {
						e = &entry{c: Check{Key: k, Scenario: sc.Name, ID: ch.ID, Name: ch.Name}}
						byKey[k] = e
						order = append(order, k)
					}
					// The unit, budget and limit come from the first run
					// that passed the check, else the first that failed
					// it: a failure may be recorded as a yes/no in
					// another unit (boot's "never served").
					measured := ch.Verdict == result.Pass || ch.Verdict == result.Fail
					if measured && (e.c.Budget == "" || (!e.fromPass && ch.Verdict == result.Pass)) {
						e.c.Unit, e.c.Budget, e.c.Limit = ch.Unit, ch.Budget, ch.Limit
						e.fromPass = ch.Verdict == result.Pass
					}
					o := Observation{Value: ch.Value, Verdict: ch.Verdict}
					s := 0
					if isHead {
						e.head, s = true, 1
						e.c.Head = append(e.c.Head, o)
					} else {
						e.base = true
						e.c.Base = append(e.c.Base, o)
					}
					e.units[s] = append(e.units[s], ch.Unit)
				}
			}
		}
	}
	add(base, false)
	add(head, true)
	for _, k := range order {
		e := byKey[k]
		for i, u := range e.units[0] {
			e.c.Base[i].NoValue = u != e.c.Unit
		}
		for i, u := range e.units[1] {
			e.c.Head[i].NoValue = u != e.c.Unit
		}
		switch {
		case e.base && e.head:
			checks = append(checks, e.c)
		case e.base:
			onlyBase = append(onlyBase, k)
		default:
			onlyHead = append(onlyHead, k)
		}
	}
	return checks, onlyBase, onlyHead
}
