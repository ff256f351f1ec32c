// Package compare judges a change: given, per check, the measured values
// and verdicts of n base runs and m head runs, it says whether the check
// is fixed, broken, better, worse, the same, a known failure or still
// undecided, with the numbers behind it. It is the statistics of
// `gitchaos compare`; it imports only the standard library and
// harness/result.
//
// # Identity
//
// A check is keyed scenario + "/" + its identity (checkKey in runs.go, the
// one line to change when result.Check carries a declared id). FromRuns
// pairs saved runs by that key.
//
// # Direction
//
// Which way is worse follows the check's budget text (DirectionOf): the
// first operator in it decides. "<=" (a time, a count, a leak slope: all
// "CI <= 0 fds/cycle" style budgets): higher is worse. ">=": lower is
// worse. "==": farther from the limit is worse, and the values compared
// are |value − limit|. None ("every scope on its newest commit"): a
// yes/no check whose value only mirrors its verdict, so only pass and
// fail are compared.
//
// # Statistics
//
// The values compared are each run's Value (a trend slope, a time, a
// count) from the runs that passed or failed; skipped and errored runs are
// left out (a side with none left makes the check "skipped"). A run whose
// value is in another unit than the check's (FromRuns takes the unit of a
// passing run: a timing that never happened is recorded as a yes/no)
// counts as a pass or fail but gives no value; with no value on a side,
// only pass and fail are compared.
//
//   - Shift: the Hodges–Lehmann estimate of head − base (the median of the
//     n·m pairwise differences; for a pure shift, the difference of the
//     medians) with the distribution-free Moses interval at Level (95%),
//     chosen over a bootstrap because it is deterministic (no RNG, the
//     same reports always give the same numbers), exact for small
//     samples where a bootstrap is poor (5 runs a side has 252 distinct
//     splits), and it is the interval of the same rank test that decides,
//     so the interval and the p-value never disagree. With too few runs
//     to reach Level (3 a side) it is the whole range of differences, its
//     coverage (Shift.Confidence) 1 − 2/C(n+m, n).
//   - Test: Mann–Whitney U, two-sided. Up to 40 runs in all, its exact
//     permutation distribution conditional on the ties (counted over
//     doubled midranks, so all-equal slopes such as "+0 fds/cycle" in
//     every run are handled exactly); beyond, the normal approximation
//     with tie-corrected variance and a continuity correction.
//   - Correction: Holm across every test of the comparison (the rank
//     tests and the Fisher tests below together), which bounds the chance
//     of any false verdict at Alpha (0.05). A test whose smallest possible
//     p-value with these runs is above Alpha (MinP: e.g. 3 runs a side,
//     where the most extreme split has p = 0.1) can never reject and is
//     left out of the family (Tarone 1990), so checks that cannot decide
//     do not dilute the others.
//
// # Verdicts
//
// Pass and fail counts come first. With rb and rh the failure rates of
// base and head:
//
//   - broken: rh > rb, and decisively: either unanimous (every base run
//     passed, every head run failed, at least Unanimous = 3 runs a side) or
//     the Fisher exact test on the counts is significant after Holm.
//     Unanimity trusts each run's own verdict, itself a decision with its
//     own interval: a check failing a fraction q of its runs at random
//     looks unanimous with probability (1−q)ⁿqᵐ <= 4⁻ⁿ at n = m (1.6% at
//     3 runs, 0.1% at 5).
//   - fixed: the same with the sides swapped.
//   - undecided: the rates differ, not decisively, and the check does not
//     fail on both sides.
//   - known failure: the check failed in at least half the runs on both
//     sides and its value did not move significantly past the floor (if
//     it did, it is worse or better: a leak that grows is still news).
//
// Otherwise the values decide:
//
//   - worse / better: the Holm-adjusted p < Alpha and |shift| > the floor.
//   - same: every value equal on both sides; or significant but within the
//     floor; or the interval, at full Level, lies within ±floor; or not significant with
//     enough runs to have likely seen a floor-sized shift (below).
//   - undecided: not significant, but too few runs to tell a floor-sized
//     shift from none.
//
// # Floors
//
// Floor(unit): 10 ms for seconds, 64 KiB for bytes (64 for KiB), 1 for a
// count of anything (count, fds, goroutines, threads, processes, files,
// scopes...), 0 for a plain number; a per-step unit ("fds/cycle",
// "bytes/round") has its base unit's floor per step. A check's floor is
// raised to RelFloor (5%) of its base median's magnitude, as Firecracker's
// A/B test floors the relative effect: boot times of 600 ms ± 100 ms on a
// shared runner would otherwise need hundreds of runs to call a 10 ms
// change "same". A difference of at most the floor is "same", however
// significant.
//
// # How many more runs
//
// An undecided check says how many more runs per side would likely decide
// it (Outcome.MoreRuns), a plan, not a promise:
//
//   - values: the runs n at which the rank test at level α/k (k the checks
//     compared, the Bonferroni bound of Holm's strictest step) detects a
//     shift of the floor with Power (80%): n = 2(z(1−α/2k) + z(0.8))²σ²/floor²
//     × π/3 (π/3: the rank test's efficiency against the t test on normal
//     data), σ the pooled median absolute deviation × 1.4826, and never
//     fewer than the exact test needs to reach α/k at all (2/C(2n, n) <=
//     α/k: 6 runs a side for 20 checks, 7 for 45). A unit without a floor plans for
//     a shift of one σ.
//   - pass/fail: if one side always passed and the other always failed,
//     Unanimous runs a side; else the smallest multiple of the runs at
//     which the Fisher test on the counts scaled up, the same rates,
//     reaches α/k.
//
// Both are capped at MaxRuns (1000).
package compare
