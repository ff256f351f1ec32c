package compare

import "strings"

// Floor is the practical floor of a unit: a difference of at most this
// much is "same" however significant. A per-step unit ("fds/cycle",
// "bytes/round") has the floor of its base unit per step.
//
//	s                          10 ms
//	bytes                      64 KiB
//	KiB                        64 (KiB)
//	"" (a plain number)        0: any significant difference counts
//	any other (count, fds,     1: one of the thing counted
//	goroutines, threads, ...)
func Floor(unit string) float64 {
	base, _, _ := strings.Cut(unit, "/")
	switch base {
	case "s":
		return 0.010
	case "bytes":
		return 64 << 10
	case "KiB":
		return 64
	case "":
		return 0
	}
	return 1
}

// Direction says which way a check's measured value gets worse.
type Direction string

// Directions.
const (
	// HigherIsWorse: a budget "<= limit" (a time, a count, a leak slope).
	HigherIsWorse Direction = "higher is worse"
	// LowerIsWorse: a budget ">= limit".
	LowerIsWorse Direction = "lower is worse"
	// AwayIsWorse: a budget "== limit"; the values compared are the
	// distances from the limit, higher worse.
	AwayIsWorse Direction = "farther from the limit is worse"
	// NoDirection: a budget with no comparison ("every scope on its
	// newest commit"), a yes/no check whose value only mirrors its
	// verdict: only pass and fail are compared.
	NoDirection Direction = "none"
)

// DirectionOf reads the direction from a check's budget text: the first
// comparison operator in it decides (budgets read "<= 1.50 s",
// "CI <= 0 fds/cycle", "lower bound <= 64 KiB/cycle", ">= 10 calls
// answered", "in_flight == 0"): ">=" lower is worse, "==" farther from
// the limit is worse, "<=" higher is worse; with none, NoDirection.
func DirectionOf(budget string) Direction {
	best, dir := -1, NoDirection
	for _, op := range []struct {
		text string
		dir  Direction
	}{{"<=", HigherIsWorse}, {">=", LowerIsWorse}, {"==", AwayIsWorse}} {
		if i := strings.Index(budget, op.text); i >= 0 && (best < 0 || i < best) {
			best, dir = i, op.dir
		}
	}
	return dir
}

// budgetFloor lowers a bytes floor to the check's own budget, at least
// 1 KiB: a disk leak judged against 0 B/cycle is a few KiB a cycle (a
// clone's refs and packs), and a floor of 64 KiB would call its fix, or
// its doubling, "same". Other units keep floor.
func budgetFloor(floor float64, unit string, limit float64) float64 {
	if base, _, _ := strings.Cut(unit, "/"); base != "bytes" {
		return floor
	}
	return min(floor, max(limit, 1<<10))
}
