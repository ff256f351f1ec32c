// Package metric is the one table of the metrics gitchaos samples and
// judges: for each, its name and unit, its default leak budgets, whether
// a settled sample waits on it, whether the leak gates judge it, and
// which kinds of source can read it. harness/probe, harness/flat, the
// gates and docs/gates.md read this table; it imports only the standard
// library.
//
// Adding a metric (say "sockets") touches three files:
//  1. harness/metric/metric.go: a name constant and a row in the table;
//  2. harness/probe: a reader for each kind of source the row claims:
//     processReaders (pid.go; probe.Tree sums them over a tree too),
//     treeReaders (tree.go), selfReaders (self.go), dirReaders (dir.go).
//     A stats endpoint needs none: its keys are read by name (a key
//     derived from another, like rss_bytes from rss_kb, is the row's
//     StatsFrom);
//  3. docs/gates.md: the metric table's new line, which TestDocsTable
//     prints when it fails.
//
// That is all: flat's default budgets, floors and units, the leak gates'
// judged and settled lists (churn, soak, repeat-sync), a URL target's
// unmeasured list and the stats endpoint's known keys follow the row.
// TestReaders (harness/probe) fails when a row claims a kind of source
// without a reader for it, or a reader reads a metric for a kind its row
// does not claim (one for a name without a constant does not compile);
// TestTable fails on a malformed row (a leak metric without a budget, a
// "_bytes" name not in bytes, ...).
package metric

import "strings"

// Well-known metric names. A stats endpoint's other numeric keys are
// metrics too, under their own names (repo_locks, repos, in_flight, ...),
// without a row: no default budget, unit from the name (see UnitOf).
const (
	FDs        = "fds"
	Goroutines = "goroutines" // in-process (or a target's stats endpoint)
	Threads    = "threads"
	Processes  = "processes"  // a target's processes besides its root, zombies included
	Heap       = "heap_bytes" // in-process: heap in use after GC
	RSS        = "rss_bytes"
	Disk       = "disk_bytes"  // bytes on disk under a target's directories
	DiskFiles  = "disk_files"  // regular files under a target's directories
	CPU        = "cpu_seconds" // user+system
	RSSKiB     = "rss_kb"      // OPAL's stats key: RSS in KiB
)

// Source is a set of kinds of source that read metrics (harness/probe).
type Source uint8

// Kinds of source.
const (
	// Process is gopsutil per process (probe.PID; probe.Tree sums it
	// over a process tree).
	Process Source = 1 << iota
	// Tree is the process tree itself (probe.Tree).
	Tree
	// Self is this process, read from inside (probe.Self).
	Self
	// Stats is a key of a target's HTTP stats endpoint (probe.HTTPStats).
	Stats
	// Dir is a walk of a target's directories (probe.Dir).
	Dir
)

// String names the kinds in s ("process, self, stats").
func (s Source) String() string {
	var out []string
	for i, name := range []string{"process", "tree", "self", "stats", "dir"} {
		if s&(1<<i) != 0 {
			out = append(out, name)
		}
	}
	return strings.Join(out, ", ")
}

// Budget is a metric's default leak budget. Budgets per deleted scope
// apply in the churn gate (times the scopes deleted per cycle); per cycle
// elsewhere.
type Budget struct {
	PerCycle float64
	PerScope float64
	// ScopeFloor is the lowest per-cycle budget that the default budget
	// per deleted scope gives (0: none).
	ScopeFloor float64
}

// Derived says that a metric is read from another stats key when the
// endpoint lacks it: Value = key's value × Scale.
type Derived struct {
	Key   string
	Scale float64
}

// Row describes one metric.
type Row struct {
	Name string
	// Unit is "bytes" (formatted as KiB/MiB), a count's noun ("fds"), or
	// "" for a plain number.
	Unit string
	// Budget is the default leak budget; nil: none (a trend of the metric
	// needs a budget given).
	Budget *Budget
	// FloorWindow is the default sliding-floor window in cycles: memory
	// a cache frees every few cycles reads as its floor (0: none).
	FloorWindow int
	// Settles: a settled sample waits until the metric reads the same 3
	// times in a row (counts that must come back exactly).
	Settles bool
	// Leak: the leak gates (churn, repeat-sync, soak) judge it per cycle.
	Leak bool
	// GrowsWithFetches: every fetch of new commits adds to it (disk use),
	// so gates that push before every cycle (repeat-sync) do not judge it.
	GrowsWithFetches bool
	// Sources are the kinds of source that read it.
	Sources Source
	// StatsFrom, if set, derives the metric from another stats key when
	// the endpoint lacks the metric's own key (rss_bytes from rss_kb).
	StatsFrom *Derived
}

// ReadBy reports whether any kind of source in k reads the metric.
func (r Row) ReadBy(k Source) bool { return r.Sources&k != 0 }

// table holds every row. Its order is the order of Leak and Settling,
// hence of the leak gates' checks.
var table = []Row{
	{Name: FDs, Unit: "fds", Budget: &Budget{}, Settles: true, Leak: true, Sources: Process | Self | Stats},
	{Name: Goroutines, Unit: "goroutines", Budget: &Budget{}, Settles: true, Leak: true, Sources: Self | Stats},
	// Threads get a quarter of one per cycle (per deleted scope) where
	// every other count gets 0: a thread pool that starts its threads
	// lazily (the Go runtime's OS threads, Python's ThreadPoolExecutor)
	// adds one now and then until the load's peak has been met, late in
	// a run as often as early (a Go target went 7 → 9 threads over 15
	// churn cycles, +0.14/cycle, a staircase the change point cannot cut
	// off), while a leak adds one per deleted scope or per sync.
	{Name: Threads, Unit: "threads", Budget: &Budget{PerCycle: 0.25, PerScope: 0.25}, Settles: true, Leak: true, Sources: Process | Self | Stats},
	{Name: Processes, Unit: "processes", Budget: &Budget{}, Settles: true, Leak: true, Sources: Tree},
	// Heap: 8 KiB per deleted scope is, at 8 scopes per cycle, the
	// per-cycle default.
	{Name: Heap, Unit: "bytes", Budget: &Budget{PerCycle: 64 << 10, PerScope: 8 << 10}, FloorWindow: 4, Leak: true, Sources: Self | Stats},
	// RSS: 32 KiB per deleted scope is half the per-cycle default at 8
	// scopes; the change-point warm-up, not a loose budget, keeps a
	// foreign server's arenas warming up from reading as a leak
	// (BENCHMARKS.md, "Leak verdicts on a foreign server"). The floor,
	// 256 KiB/cycle (the 8-scope budget): a young process's RSS warms up
	// by an amount per cycle that does not shrink with the scopes a cycle
	// deletes (the reference fetcher exec'd rose about 100 KiB/cycle at 4
	// and at 8 scopes alike for 25 cycles, then held; BENCHMARKS.md, "RSS
	// of a young Go process across churn"), so 32 KiB × 4 scopes read
	// that warm-up as a leak.
	{Name: RSS, Unit: "bytes", Budget: &Budget{PerCycle: 512 << 10, PerScope: 32 << 10, ScopeFloor: 256 << 10}, FloorWindow: 4, Leak: true, Sources: Process | Self | Stats, StatsFrom: &Derived{Key: RSSKiB, Scale: 1024}},
	{Name: Disk, Unit: "bytes", Budget: &Budget{}, Leak: true, GrowsWithFetches: true, Sources: Dir | Stats},
	{Name: DiskFiles, Unit: "files", Budget: &Budget{}, Sources: Dir},
	{Name: CPU, Sources: Process | Self | Stats},
	{Name: RSSKiB, Unit: "KiB", Sources: Stats},
}

// All returns a copy of every row, in table order. The rows share their
// Budget and StatsFrom values with the table: read them, do not change
// them.
func All() []Row {
	out := make([]Row, len(table))
	copy(out, table)
	return out
}

// Lookup returns the row of a metric, and whether it has one.
func Lookup(name string) (Row, bool) {
	for _, r := range table {
		if r.Name == name {
			return r, true
		}
	}
	return Row{}, false
}

// Names returns the names of the rows for which keep reports true, in
// table order.
func Names(keep func(Row) bool) []string {
	var out []string
	for _, r := range table {
		if keep(r) {
			out = append(out, r.Name)
		}
	}
	return out
}

// Leak returns the metrics the leak gates judge per cycle, in table order.
func Leak() []string { return Names(func(r Row) bool { return r.Leak }) }

// Settling returns the metrics a settled sample waits on, in table order.
func Settling() []string { return Names(func(r Row) bool { return r.Settles }) }

// UnitOf returns the unit of a metric: its row's, else "bytes" for a
// name ending in "_bytes", else "" (a plain number).
func UnitOf(name string) string {
	if r, ok := Lookup(name); ok {
		return r.Unit
	}
	if strings.HasSuffix(name, "_bytes") {
		return "bytes"
	}
	return ""
}
