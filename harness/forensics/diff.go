package forensics

import (
	"fmt"
	"sort"
	"strings"
)

// Group is the objects of one signature in two snapshots.
type Group struct {
	// Kind is what the objects are: "fd", "map" (a mapped file),
	// "thread", "proc" (a descendant process), "file" or "dir" (under a
	// watched dir).
	Kind string `json:"kind"`
	// Signature is the objects' description with ids as placeholders
	// (see Signature), e.g. "file <base>/<id>/objects/pack/pack-<hex>.pack (deleted)".
	Signature string `json:"signature"`
	// Before and After count the objects in the base and the later
	// snapshot; Growth is After - Before, PerCycle Growth / cycles.
	Before   int     `json:"before"`
	After    int     `json:"after"`
	Growth   int     `json:"growth"`
	PerCycle float64 `json:"per_cycle"`
	// Example is one concrete object of the group (of the later snapshot
	// when it has one), e.g. "fd 12 file /tmp/x/ab12…/pack-…pack (deleted) in pid 7 (git)".
	Example string `json:"example"`
}

// Text renders a group on one line:
// "+8 fd file <base>/<id>/objects/pack/pack-<hex>.pack (deleted)   e.g. fd 12 file /tmp/…".
func (g Group) Text() string {
	return fmt.Sprintf("%+d %s %s   e.g. %s", g.Growth, g.Kind, g.Signature, Shorten(g.Example, 120))
}

// Shorten cuts s to at most n runes by replacing its middle with "…", so
// that both the start of a path and its file name stay readable.
func Shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n || n < 5 {
		return s
	}
	head := (n - 1) * 2 / 5
	tail := n - 1 - head
	return string(r[:head]) + "…" + string(r[len(r)-tail:])
}

// Diff is the difference of two snapshots by signature.
type Diff struct {
	// Cycles is the number of cycles between the snapshots (PerCycle's divisor).
	Cycles int `json:"cycles"`
	// Groups are the signatures whose count changed, largest growth first
	// (shrinking groups last), then by kind and signature.
	Groups []Group `json:"groups"`
	// MemoryBefore and MemoryAfter sum the memory split of the processes
	// of each snapshot.
	MemoryBefore Memory `json:"memory_before"`
	MemoryAfter  Memory `json:"memory_after"`
	// Unreadable is what either snapshot could not read: a group may miss
	// objects of these parts.
	Unreadable []Unreadable `json:"unreadable,omitempty"`
}

// Compare diffs base (a warmed baseline; nil for an empty one) against
// after, taken cycles cycles later (0 or less: PerCycle is the growth).
// ids are known ids to replace by "<id>" on top of both snapshots'
// Options.IDs. (The type is Diff, so the function cannot be.)
func Compare(base, after *Snap, cycles int, ids ...string) Diff {
	if base == nil {
		base = &Snap{Dirs: after.Dirs, Peers: after.Peers}
	}
	all := append(append(append([]string(nil), base.IDs...), after.IDs...), ids...)
	type acc struct {
		g       Group
		exAfter bool
	}
	groups := map[[2]string]*acc{}
	count := func(s *Snap, isAfter bool) {
		for _, o := range newSigner(s, all).objects(s) {
			k := [2]string{o.Kind, o.Signature}
			a := groups[k]
			if a == nil {
				a = &acc{g: Group{Kind: o.Kind, Signature: o.Signature}}
				groups[k] = a
			}
			if isAfter {
				a.g.After++
				if !a.exAfter {
					a.g.Example, a.exAfter = o.Example, true
				}
			} else {
				a.g.Before++
				if a.g.Example == "" {
					a.g.Example = o.Example
				}
			}
		}
	}
	count(base, false)
	count(after, true)
	d := Diff{Cycles: cycles, MemoryBefore: sumMemory(base), MemoryAfter: sumMemory(after)}
	for _, a := range groups {
		g := a.g
		g.Growth = g.After - g.Before
		if g.Growth == 0 {
			continue
		}
		g.PerCycle = float64(g.Growth)
		if cycles > 0 {
			g.PerCycle /= float64(cycles)
		}
		d.Groups = append(d.Groups, g)
	}
	sortGroups(d.Groups)
	seen := map[Unreadable]bool{}
	for _, u := range append(append([]Unreadable(nil), base.Unreadable...), after.Unreadable...) {
		if !seen[u] {
			seen[u] = true
			d.Unreadable = append(d.Unreadable, u)
		}
	}
	return d
}

func sortGroups(gs []Group) {
	sort.Slice(gs, func(i, j int) bool {
		a, b := gs[i], gs[j]
		if a.Growth != b.Growth {
			return a.Growth > b.Growth
		}
		if a.Kind != b.Kind {
			return kindRank(a.Kind) < kindRank(b.Kind)
		}
		return a.Signature < b.Signature
	})
}

// kindRank orders kinds for ties: what a process holds before what lies
// on disk.
func kindRank(k string) int {
	for i, o := range []string{"proc", "thread", "fd", "map", "file", "dir"} {
		if k == o {
			return i
		}
	}
	return 99
}

func sumMemory(s *Snap) Memory {
	var m Memory
	for _, p := range s.Procs {
		if p.Memory != nil {
			m.Rss += p.Memory.Rss
			m.Pss += p.Memory.Pss
			m.Anon += p.Memory.Anon
			m.File += p.Memory.File
			m.Swap += p.Memory.Swap
		}
	}
	return m
}

// Top returns at most n groups that grew, largest growth first.
func (d Diff) Top(n int) []Group {
	var out []Group
	for _, g := range d.Groups {
		if g.Growth <= 0 || len(out) >= n {
			break
		}
		out = append(out, g)
	}
	return out
}

// Text renders the diff: the top n growing groups one per line (all when
// n <= 0), then a line for the shrinking ones, the memory change and what
// was unreadable.
func (d Diff) Text(n int) string {
	var b strings.Builder
	grew, shrank := 0, 0
	for _, g := range d.Groups {
		if g.Growth > 0 {
			grew++
		} else {
			shrank++
		}
	}
	top := d.Top(grew)
	if n > 0 && len(top) > n {
		top = top[:n]
	}
	for _, g := range top {
		b.WriteString(g.Text() + "\n")
	}
	if len(top) < grew {
		fmt.Fprintf(&b, "… and %d more growing groups\n", grew-len(top))
	}
	if grew == 0 {
		b.WriteString("no group grew\n")
	}
	if shrank > 0 {
		fmt.Fprintf(&b, "%d groups shrank\n", shrank)
	}
	mb, ma := d.MemoryBefore, d.MemoryAfter
	fmt.Fprintf(&b, "memory: rss %s, anon %s, file %s\n",
		signedBytes(int64(ma.Rss)-int64(mb.Rss)), signedBytes(int64(ma.Anon)-int64(mb.Anon)), signedBytes(int64(ma.File)-int64(mb.File)))
	for _, u := range d.Unreadable {
		b.WriteString("unreadable: " + u.String() + "\n")
	}
	return b.String()
}

// String renders an unreadable part: "pid 7 fds: permission denied".
func (u Unreadable) String() string {
	if u.PID == 0 {
		return u.Part + ": " + u.Reason
	}
	return fmt.Sprintf("pid %d %s: %s", u.PID, u.Part, u.Reason)
}

func signedBytes(n int64) string {
	sign := "+"
	if n < 0 {
		sign, n = "-", -n
	}
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%s%.1f MiB", sign, float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%s%.1f KiB", sign, float64(n)/(1<<10))
	}
	return fmt.Sprintf("%s%d B", sign, n)
}
