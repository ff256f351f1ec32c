package fetcher

// Moved is a check a mutant's bug also moves, beyond the checks it must
// fail, with why.
type Moved struct {
	Check CheckRef
	Why   string
}

// Moves are the checks m's bug also moves: passing checks whose values a
// comparison of the correct fetcher against the mutant finds worse
// (gitchaos compare --mutants). Such a row is still as expected; a check
// that comes out worse and is not listed here makes it wrong, so each
// entry is the bug's own effect, seen with 8 runs a side and explained
// (two series, seeds 1… and 101…: BENCHMARKS.md, "Eighth session"). A
// later series may find another: the row fails until it is explained. A check that fails outright
// (broken) needs no entry: it is collateral, as in the matrix.
func (m Mutant) Moves() []Moved { return moves[m.Name] }

var moves = map[string][]Moved{
	"no-timeout": {
		{chk("boot.first-answer"), "boot's clones of the offline host never end: their goroutines and sockets stay busy beside the health check (9–48 ms against 3–20 ms)"},
		{chk("boot.first-healthy"), "the healthy scopes' first clone waits for workers the hung clones hold (0.28–0.50 s against 0.24–0.33 s)"},
		{chk("boot.all-healthy"), "the hung clones keep workers of the pool that the healthy scopes' clones then wait for"},
		{chk("boot.new-scope-after-start"), "a scope put after the start waits for a worker the hung clones hold"},
	},
	"inactivity-timeout": {
		{chk("timeout.goroutines-baseline"), "the drip's clone and fetch, never timed out, still run when the goroutines are counted (4–6 against 2, within the budget)"},
	},
	"serial-sync": {
		{chk("boot.first-healthy"), "one source at a time: the first healthy scope waits for the sources before it (1.25 s against 0.25 s)"},
	},
	"no-fetch-dedupe": {
		{chk("boot.all-healthy"), "every scope fetches its source: the boot does more git work before the last scope serves"},
		{chk("repeat-sync.rss-bytes-flat"), "each refresh-all fetches once per scope instead of once per source: more packs read per round"},
	},
	"delete-wrong-scope": {
		{chk("churn.rss-bytes-flat"), "the deleted scope's clone stays open and cached every cycle (its caches and fds fail outright): memory grows with it (+72–348 KiB/cycle against −295–+68)"},
	},
	"stale-content-cache": {
		{chk("repeat-sync.rss-bytes-flat"), "the bundle files cached by scope and path are never dropped: the cache grows with every round's reads"},
	},
}
