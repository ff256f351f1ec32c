package metric_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/gitchaos/gitchaos/harness/metric"
)

// TestTable fails on a malformed row.
func TestTable(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range metric.All() {
		if r.Name == "" || seen[r.Name] {
			t.Errorf("row %+v: name empty or repeated", r)
		}
		seen[r.Name] = true
		if r.Sources == 0 || r.Sources.String() == "" {
			t.Errorf("%s: no source reads it", r.Name)
		}
		if r.Leak && r.Budget == nil {
			t.Errorf("%s: judged for leaks without a default budget", r.Name)
		}
		if r.GrowsWithFetches && !r.Leak {
			t.Errorf("%s: GrowsWithFetches only means something for a leak metric", r.Name)
		}
		if b := r.Budget; b != nil && (b.PerCycle < 0 || b.PerScope < 0 || b.ScopeFloor < 0 || (b.ScopeFloor > 0 && b.PerScope == 0)) {
			t.Errorf("%s: budget %+v: want >= 0, a floor only with a budget per scope", r.Name, *b)
		}
		if r.FloorWindow < 0 || r.FloorWindow == 1 {
			t.Errorf("%s: floor window %d: want 0 (none) or >= 2", r.Name, r.FloorWindow)
		}
		if strings.HasSuffix(r.Name, "_bytes") != (r.Unit == "bytes") {
			t.Errorf("%s: unit %q: a name ends in _bytes exactly when its unit is bytes", r.Name, r.Unit)
		}
		if d := r.StatsFrom; d != nil && (d.Scale <= 0 || !r.ReadBy(metric.Stats)) {
			t.Errorf("%s: derived from %+v: want a scale > 0, and the stats source claimed", r.Name, *d)
		}
	}
	for _, r := range metric.All() {
		if d := r.StatsFrom; d != nil && !seen[d.Key] {
			t.Errorf("%s: derived from %q, which has no row", r.Name, d.Key)
		}
	}
}

func TestUnitOf(t *testing.T) {
	for m, u := range map[string]string{"fds": "fds", "heap_bytes": "bytes", "foo_bytes": "bytes", "repos": "", "rss_kb": "KiB", "cpu_seconds": ""} {
		if got := metric.UnitOf(m); got != u {
			t.Errorf("UnitOf(%q) = %q, want %q", m, got, u)
		}
	}
}

// TestDocsTable fails when docs/gates.md's metric table is not the one
// this table renders; the failure prints the table to paste.
func TestDocsTable(t *testing.T) {
	const path = "../../docs/gates.md"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- metric table: harness/metric TestDocsTable -->\n")
	got, _, ok2 := strings.Cut(rest, "\n<!-- end metric table -->")
	if !ok || !ok2 {
		t.Fatalf("%s: no metric table between <!-- metric table: harness/metric TestDocsTable --> and <!-- end metric table -->", path)
	}
	if want := docTable(); got != want {
		t.Errorf("%s: the metric table differs from harness/metric's; want:\n%s", path, want)
	}
}

func docTable() string {
	lines := []string{
		"| metric | unit | budget per cycle | per deleted scope | floor per cycle | sliding floor | settles | judged for leaks | read by |",
		"|---|---|---|---|---|---|---|---|---|",
	}
	for _, r := range metric.All() {
		cycle, scope, floor := "none", "", ""
		if b := r.Budget; b != nil {
			cycle, scope = amount(b.PerCycle, r.Unit), amount(b.PerScope, r.Unit)
			if b.ScopeFloor > 0 {
				floor = amount(b.ScopeFloor, r.Unit)
			}
		}
		window := ""
		if r.FloorWindow > 0 {
			window = strconv.Itoa(r.FloorWindow) + " cycles"
		}
		judged := yes(r.Leak)
		if r.GrowsWithFetches {
			judged += " (not in repeat-sync)"
		}
		lines = append(lines, "| `"+r.Name+"` | "+r.Unit+" | "+cycle+" | "+scope+" | "+floor+" | "+window+" | "+yes(r.Settles)+" | "+judged+" | "+sources(r)+" |")
	}
	return strings.Join(lines, "\n")
}

func amount(v float64, unit string) string {
	if unit == "bytes" && v >= 1024 && int64(v)%1024 == 0 {
		return strconv.FormatInt(int64(v)/1024, 10) + " KiB"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return ""
}

func sources(r metric.Row) string {
	s := r.Sources.String()
	if d := r.StatsFrom; d != nil {
		s += " (or stats `" + d.Key + "` × " + strconv.FormatFloat(d.Scale, 'g', -1, 64) + ")"
	}
	return s
}
