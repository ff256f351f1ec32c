package flat

// Budgets are the default per-cycle budgets of well-known metrics (names
// as in harness/probe). Override per call with TrendOptions.Budget or
// TrendOptions.Budgets.
//
// Threads get a quarter of one per cycle (per deleted scope in
// ScopeBudgets) where every other count gets 0: a thread pool that starts
// its threads lazily (the Go runtime's OS threads, Python's
// ThreadPoolExecutor) adds one now and then until the load's peak has
// been met, late in a run as often as early (a Go target went 7 → 9
// threads over 15 churn cycles, +0.14/cycle, a staircase the change
// point cannot cut off), while a leak adds one per deleted scope or per
// sync.
var Budgets = map[string]float64{
	"fds":        0,
	"goroutines": 0,
	"threads":    0.25,
	"processes":  0,
	"heap_bytes": 64 << 10,
	"rss_bytes":  512 << 10,
	"disk_bytes": 0,
	"disk_files": 0,
}

// ScopeBudgets are the default budgets per deleted scope of the churn
// gate (TrendOptions.ScopeBudget with Scopes): nothing of a deleted scope
// may stay (fds, goroutines, processes, disk; threads a quarter, see
// Budgets), heap 8 KiB and
// RSS 32 KiB. At 8 scopes per cycle the heap budget is the per-cycle
// default (64 KiB); RSS is half of it (256 KiB/cycle): the change-point
// warm-up, not a loose budget, keeps a foreign server's arenas warming up
// from reading as a leak (BENCHMARKS.md, "Leak verdicts on a foreign
// server").
var ScopeBudgets = map[string]float64{
	"fds":        0,
	"goroutines": 0,
	"threads":    0.25,
	"processes":  0,
	"heap_bytes": 8 << 10,
	"rss_bytes":  32 << 10,
	"disk_bytes": 0,
	"disk_files": 0,
}

// ScopeBudgetFloors are the lowest per-cycle budgets that default budgets
// per deleted scope give (TrendOptions.BudgetFloor): RSS 256 KiB/cycle, the
// 8-scope budget. A young process's RSS warms up by an amount per cycle
// that does not shrink with the scopes a cycle deletes: the reference
// fetcher exec'd, its freed pages given back before each sample, rose
// about 100 KiB/cycle at 4 and at 8 scopes alike for 25 cycles, then held
// (+2.4 MiB, heap flat; BENCHMARKS.md, "RSS of a young Go process across
// churn"),
// so 32 KiB × 4 scopes read that warm-up as a leak.
var ScopeBudgetFloors = map[string]float64{
	"rss_bytes": 256 << 10,
}

// Floors are the default sliding-floor windows (TrendOptions.Floor) per
// metric: memory that a cache frees every few cycles reads as its floor.
var Floors = map[string]int{
	"heap_bytes": 4,
	"rss_bytes":  4,
}
