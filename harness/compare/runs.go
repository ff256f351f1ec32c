package compare

import "github.com/gitchaos/gitchaos/harness/result"

// checkKey is a check's identity across runs: its scenario and its
// title. When result.Check carries its declared ID, this is the one line
// to change: return scenario + "/" + c.ID.
func checkKey(scenario string, c result.Check) string { return scenario + "/" + c.Name }

// FromRuns pairs the checks of saved runs by key (scenario/check): one
// Check per key found on both sides, each run contributing one
// observation, in the order the keys first appear (base runs first).
// Keys found on one side only are returned apart, in the same order.
func FromRuns(base, head []*result.Run) (checks []Check, onlyBase, onlyHead []string) {
	type entry struct {
		c          Check
		base, head bool
	}
	byKey := map[string]*entry{}
	var order []string
	add := func(runs []*result.Run, isHead bool) {
		for _, r := range runs {
			for _, sc := range r.Scenarios {
				for _, ch := range sc.Checks {
					k := checkKey(sc.Name, ch)
					e := byKey[k]
					if e == nil {
						e = &entry{c: Check{Key: k, Scenario: sc.Name, Name: ch.Name}}
						byKey[k] = e
						order = append(order, k)
					}
					// The unit, budget and limit come from the first run
					// that measured the check (a skipped one has none).
					if e.c.Budget == "" && ch.Verdict != result.Skip && ch.Verdict != result.Error {
						e.c.Unit, e.c.Budget, e.c.Limit = ch.Unit, ch.Budget, ch.Limit
					}
					o := Observation{Value: ch.Value, Verdict: ch.Verdict}
					if isHead {
						e.head = true
						e.c.Head = append(e.c.Head, o)
					} else {
						e.base = true
						e.c.Base = append(e.c.Base, o)
					}
				}
			}
		}
	}
	add(base, false)
	add(head, true)
	for _, k := range order {
		switch e := byKey[k]; {
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
