// Package reports renders a gitchaos run (the result model of package
// harness/result) in the formats people and CI systems read:
//
//   - report.json  — the run itself ([WriteJSON], byte-identical to result.Run.Save);
//     every other format renders from it, so a saved run can be re-rendered
//     later with `gitchaos report report.json --html out.html`.
//   - report.xml   — JUnit XML ([WriteJUnit]): one <testsuite> per scenario,
//     one <testcase> per check; failures carry measured vs budget and the
//     explanation; skipped checks are <skipped>, harness errors <error>.
//   - report.md    — a Markdown summary ([WriteMarkdown]) sized for a pull
//     request comment or a GitHub step summary (at most [MarkdownLimit] bytes):
//     a verdict line, the failing checks first, passing ones collapsed.
//   - report.html  — one self-contained HTML file ([WriteHTML]): no scripts,
//     no network (a Content-Security-Policy forbids any), inline CSS and
//     inline SVG charts drawn with gonum.org/v1/plot.
//
// [WriteAll] writes the four files into a directory (what `gitchaos gate
// --out DIR` calls). The package depends only on the result model.
//
// # Series conventions
//
// The HTML report picks a chart for each result.Series by these rules, in
// order (scenarios produce series that follow them; the constants below
// spell the names):
//
//  1. Metric == "timeout_overshoot" ([MetricTimeoutOvershoot]): a histogram of
//     the Y values (one point per timed-out operation: how far past its
//     deadline it returned, Unit "s"; X is ignored, use the operation index).
//     When a check names this series (Check.Series == Series.Name), its Limit
//     is drawn as a vertical budget line.
//  2. XUnit == "cycle" ([XUnitCycle]): a per-cycle chart (points joined by a
//     line, X = cycle number). When Fit is set, the fitted line
//     Intercept+Slope*x is drawn over [FromX, ToX], cycles before FromX are
//     shaded as warm-up, a dashed line shows the growth the budget allows
//     (Fit.Budget per cycle), and the caption states slope, CI, budget and
//     method. Use Metric "fds", "rss_bytes", "heap_bytes", "goroutines" (or
//     any other) with Unit "fds", "bytes", "bytes", "count"; Unit "bytes" is
//     shown in KiB/MiB/GiB.
//  3. Metric == "scopes_served" ([MetricScopesServed]) with XUnit "s": the
//     boot progress curve (a step line of scopes served over seconds since
//     the scenario started) with fault windows shaded.
//  4. Any other XUnit "s" series: a time line chart with fault windows shaded.
//     Series of any other XUnit (e.g. "request") are drawn the same way
//     against that unit, without fault windows.
//
// Series measured over time use XUnit "s" (seconds since the scenario
// started), so they line up with the fault windows. Time axes switch to
// minutes past 15 minutes and to hours past 3 hours (soaks); captions are
// computed from the points drawn and keep exact durations. Each chart's
// legend is HTML below the SVG (it wraps, so no label is ever cut, and it
// never hides data).
//
// Fault windows are drawn as translucent bands, one color per fault kind
// (the first word of the window's label: blackhole, offline, latency, ...)
// with one legend entry each, overlapping windows of a kind merged into
// one band, and a solid lane per kind along the top of the plot; the
// series is drawn over them. A progress curve holds its last value to the
// end of the plot.
//
// Fault windows come from the scenario's FaultEvents (never from marker
// labels): an inject opens a window keyed by fault, host and repo, the
// recover with the same key closes it, a recover with no matching key
// closes the oldest open window, and a window never closed runs to the end
// of the chart.
//
// A check that names a series (Check.Series) links to its chart, and the
// chart is outlined in red when the check failed. Series with more than
// [MaxChartPoints] points are thinned for drawing (min and max per bucket,
// so spikes survive); fits and captions use the original numbers.
package reports
