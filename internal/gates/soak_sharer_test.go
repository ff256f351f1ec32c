package gates

import (
	"strings"
	"testing"
)

// sharerSchedule is tinySchedule with two extra scopes on one pool repo
// and a delete-sharer of the first.
func sharerSchedule() *Schedule {
	s := tinySchedule()
	s.Steps = []SchedStep{
		{N: 0, Kind: stepPutNew, Host: 0, Repo: 1, Scope: 3},
		{N: 1, Kind: stepPutShared, Host: 0, Repo: 1, Scope: 4},
		{N: 2, Kind: stepDeleteSharer, Scope: 3},
		{N: 3, Kind: stepDeleteSharer, Scope: 0, Skipped: "no two live extra scopes share a repo"},
	}
	s.QuietAfter = []int{4}
	return s
}

// TestScheduleDeleteSharer: a delete-sharer is a delete to the schedule:
// written with its scope, valid only on a live scope, dropped by repair
// when its put is gone.
func TestScheduleDeleteSharer(t *testing.T) {
	s := sharerSchedule()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "{step: 2, kind: delete-sharer, scope: 3}") {
		t.Errorf("schedule lacks the delete-sharer step with its scope:\n%s", b)
	}
	if got := s.Steps[2].String(); got != "#2 delete-sharer scope 3" {
		t.Errorf("String: %q", got)
	}
	if _, err := ParseSchedule(b); err != nil {
		t.Errorf("parse what Marshal wrote: %v", err)
	}
	bad := sharerSchedule()
	bad.Steps[2].Scope = 5
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "scope 5 is not alive") {
		t.Errorf("delete-sharer of a scope never put: %v, want 'scope 5 is not alive'", err)
	}
	r := sharerSchedule()
	r.Steps = r.Steps[1:] // the first put is gone: its delete-sharer goes too
	r.repair()
	r.dropEmptyWindows()
	if err := r.Validate(); err != nil {
		t.Fatalf("repaired: %v", err)
	}
	if len(r.Steps) != 1 || r.Steps[0].Kind != stepPutShared {
		t.Errorf("repaired steps %+v, want the put-shared alone", r.Steps)
	}
}

// TestResolveSharer: a delete-sharer picks among the extra scopes whose
// repo another live extra scope uses, and is skipped when there is none.
func TestResolveSharer(t *testing.T) {
	a, b := &Repo{Name: "a"}, &Repo{Name: "b"}
	k := &soak{extras: []soakScope{{id: "x", repo: a, num: 3}, {id: "y", repo: b, num: 4}}}
	if _, why := k.resolveSharer(SchedStep{Kind: stepDeleteSharer}, 0); why == "" {
		t.Error("no two extras share a repo, yet the step was not skipped")
	}
	k.extras = append(k.extras, soakScope{id: "z", repo: a, num: 5})
	for pick, want := range map[int]int{0: 3, 1: 5, 2: 3} {
		rs, why := k.resolveSharer(SchedStep{Kind: stepDeleteSharer}, pick)
		if why != "" || rs.Scope != want {
			t.Errorf("pick %d: scope %d (%q), want %d", pick, rs.Scope, why, want)
		}
	}
	if j := k.siblingOf(0); j != 2 {
		t.Errorf("sibling of x: %d, want 2 (z, same repo)", j)
	}
}
