package reports

import (
	"fmt"
	"html/template"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gitchaos/gitchaos/harness/result"
)

// htmlTableLimit caps fault-log and marker tables per scenario.
const htmlTableLimit = 500

// WriteHTML writes run as one self-contained HTML page: no scripts, no
// external resources (a Content-Security-Policy meta tag forbids them), CSS
// inline and every chart an inline SVG drawn with gonum/plot. The page
// holds a summary table, the failing checks, and per scenario its checks
// (failing rows highlighted), charts (see the package doc for which series
// become which chart), fault log, markers and log paths. A chart that cannot
// be drawn is replaced by a note saying why; the rest of the page renders.
func WriteHTML(w io.Writer, run *result.Run) error {
	if run == nil {
		return errNilRun
	}
	if err := pageTemplate.Execute(w, buildPage(run)); err != nil {
		return fmt.Errorf("reports: render html: %w", err)
	}
	return nil
}

type htmlPage struct {
	Run       *result.Run
	Kind      string
	Verdict   string
	Counts    counts
	Started   string
	Duration  string
	Versions  []kv
	Scenarios []htmlScenario
	Failing   []htmlCheck
}

type kv struct{ K, V string }

type htmlScenario struct {
	ID       string
	S        *result.Scenario
	Verdict  string
	Counts   counts
	Started  string
	Duration string
	Params   []kv
	Checks   []htmlCheck
	Charts   []htmlChart
	Faults   []result.FaultEvent
	Markers  []result.Marker
	MoreF    int
	MoreM    int
}

type htmlCheck struct {
	Scenario   string
	ScenarioID string
	C          result.Check
	Verdict    string
	ChartID    string
}

type htmlChart struct {
	chart
	SVGHTML template.HTML
}

func buildPage(run *result.Run) htmlPage {
	pg := htmlPage{
		Run:      run,
		Kind:     run.Kind,
		Verdict:  string(run.Verdict()),
		Counts:   countRun(run),
		Duration: result.FormatDuration(run.Duration),
	}
	if pg.Kind == "" {
		pg.Kind = "run"
	}
	if !run.Started.IsZero() {
		pg.Started = run.Started.UTC().Format(time.RFC3339)
	}
	for _, k := range slices.Sorted(maps.Keys(run.Versions)) {
		pg.Versions = append(pg.Versions, kv{k, run.Versions[k]})
	}
	for i, s := range scenarios(run) {
		hs := htmlScenario{
			ID:       fmt.Sprintf("s%d", i),
			S:        s,
			Verdict:  string(s.Verdict()),
			Counts:   countRun(&result.Run{Scenarios: []*result.Scenario{s}}),
			Duration: result.FormatDuration(s.Duration),
		}
		if !s.Started.IsZero() {
			hs.Started = s.Started.UTC().Format(time.RFC3339)
		}
		for _, k := range slices.Sorted(maps.Keys(s.Params)) {
			hs.Params = append(hs.Params, kv{k, fmt.Sprint(s.Params[k])})
		}
		charts := renderCharts(s, hs.ID)
		chartBySeries := map[string]string{}
		for j, c := range charts {
			hs.Charts = append(hs.Charts, htmlChart{chart: c, SVGHTML: template.HTML(c.SVG)}) // #nosec: gonum escapes text
			if _, dup := chartBySeries[s.Series[j].Name]; !dup {
				chartBySeries[s.Series[j].Name] = c.ID
			}
		}
		if s.Error != "" {
			hc := htmlCheck{Scenario: s.Name, ScenarioID: hs.ID, Verdict: string(result.Error),
				C: result.Check{Name: "(scenario)", Verdict: result.Error, Explanation: s.Error}}
			pg.Failing = append(pg.Failing, hc)
		}
		for _, c := range s.Checks {
			hc := htmlCheck{Scenario: s.Name, ScenarioID: hs.ID, C: c, Verdict: string(checkVerdict(c.Verdict)),
				ChartID: chartBySeries[c.Series]}
			hs.Checks = append(hs.Checks, hc)
			if hc.Verdict == string(result.Fail) || hc.Verdict == string(result.Error) {
				pg.Failing = append(pg.Failing, hc)
			}
		}
		hs.Faults = s.Faults
		if len(hs.Faults) > htmlTableLimit {
			hs.MoreF = len(hs.Faults) - htmlTableLimit
			hs.Faults = hs.Faults[:htmlTableLimit]
		}
		hs.Markers = s.Markers
		if len(hs.Markers) > htmlTableLimit {
			hs.MoreM = len(hs.Markers) - htmlTableLimit
			hs.Markers = hs.Markers[:htmlTableLimit]
		}
		pg.Scenarios = append(pg.Scenarios, hs)
	}
	return pg
}

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"dur":        result.FormatDuration,
	"upper":      strings.ToUpper,
	"secs":       func(s result.Seconds) string { return result.FormatValue(float64(s), "s") },
	"join":       strings.Join,
	"shardLabel": shardLabel,
	"short":      func(s string) string { return truncate(s, htmlSummaryCell) },
}).Parse(pageHTML))

// htmlSummaryCell caps an explanation in the failing-checks summary (a
// panic's stack can run to pages); the scenario's section has it whole.
const htmlSummaryCell = 600

const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gitchaos {{.Kind}} {{upper .Verdict}} — {{.Run.ID}}</title>
<style>
body{font-family:"Liberation Sans",Arial,Helvetica,sans-serif;margin:0 auto;max-width:1400px;padding:16px 24px;color:#222;background:#fff;font-size:14px;line-height:1.4}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ccc;padding-bottom:4px}h3{font-size:15px;margin:16px 0 6px}
a{color:#0b57d0}
code{font-family:"Liberation Mono",monospace;font-size:13px}
code.id{color:#666;font-size:11px}
table{border-collapse:collapse;margin:6px 0 12px;width:100%}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.fail td,tr.error td{background:#fdecea}
tr.skip td{color:#777}
.badge{display:inline-block;padding:2px 10px;border-radius:4px;color:#fff;font-weight:bold;font-size:13px;vertical-align:middle}
.badge.pass{background:#2e7d32}.badge.fail,.badge.error{background:#a31515}.badge.skip{background:#777}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:8px 0}
dl.meta dt{font-weight:bold}dl.meta dd{margin:0}
.verdictline{font-size:16px;margin:6px 0}
.errbox{border:2px solid #a31515;background:#fdecea;padding:8px 12px;white-space:pre-wrap;font-family:"Liberation Mono",monospace;font-size:13px}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:16px}
figure.chart{margin:0;border:1px solid #ddd;padding:8px;background:#fff}
figure.chart.failed{border:3px solid #a31515}
figure.chart svg{width:100%;height:auto;display:block}
figcaption{font-size:13px;margin-top:4px}
ul.legend{list-style:none;margin:4px 0 0;padding:0;display:flex;flex-wrap:wrap;gap:2px 14px;font-size:12px;overflow-wrap:anywhere}
ul.legend li{display:inline-flex;align-items:center;gap:5px}
.sw{display:inline-block;width:22px;height:10px;flex:none}
.sw.line{border-top:2px solid var(--c);height:0}
.sw.dash{border-top:2px dashed var(--c);height:0}
.sw.points{height:0;border-top:2px solid var(--c);position:relative}
.sw.points::after{content:"";position:absolute;left:8px;top:-4px;width:6px;height:6px;border-radius:50%;background:var(--c)}
.sw.band,.sw.bar{background:var(--c);border:1px solid rgba(0,0,0,.25)}
.muted{color:#666}
details{margin:6px 0}
footer{margin-top:32px;color:#777;font-size:12px}
</style>
</head>
<body>
<header>
<h1><span class="badge {{.Verdict}}">{{upper .Verdict}}</span> gitchaos {{.Kind}} <code>{{.Run.ID}}</code></h1>
<p class="verdictline">{{.Counts.Checks}} checks: <b>{{.Counts.Pass}} passed</b>, <b>{{.Counts.Fail}} failed</b>, {{.Counts.Errs}} errors, {{.Counts.Skip}} skipped{{if .Counts.ScenarioErrors}}; <b>{{.Counts.ScenarioErrors}} scenario errors</b>{{end}}.</p>
<dl class="meta">
<dt>seed</dt><dd><code>{{.Run.Seed}}</code></dd>
<dt>target</dt><dd>{{.Run.Target}}</dd>
<dt>testbed</dt><dd>{{.Run.Testbed}}</dd>
{{if .Run.Mutants}}<dt>mutants</dt><dd>{{join .Run.Mutants ", "}}</dd>{{end}}
{{if .Run.Settings}}<dt>settings</dt><dd>{{.Run.Settings}}</dd>{{end}}
{{with shardLabel .Run}}<dt>shards</dt><dd>{{.}}</dd>{{end}}
{{if .Started}}<dt>started</dt><dd>{{.Started}}</dd>{{end}}
<dt>duration</dt><dd>{{.Duration}}</dd>
{{range .Versions}}<dt>{{.K}}</dt><dd><code>{{.V}}</code></dd>{{end}}
</dl>
</header>

{{with .Run.Catch}}<section id="catch">
<h2>Mutant <code>{{.Mutant}}</code>: {{if .Caught}}<span class="badge pass">CAUGHT</span>{{else}}<span class="badge fail">MISSED</span>{{end}}</h2>
<p class="muted">seam {{.Seam}} · {{.Upstream}}</p>
<table>
<thead><tr><th>check that must fail</th><th>verdict</th></tr></thead>
<tbody>
{{range .MustFail}}<tr><td>{{.Scenario}} / {{.Check}}{{with .ID}} <code>{{.}}</code>{{end}}</td><td>{{with print .Verdict}}{{.}}{{else}}not run{{end}}</td></tr>
{{end}}</tbody>
</table>
{{if .Collateral}}<p>Collateral (other failing checks): {{range $i, $c := .Collateral}}{{if $i}}; {{end}}{{$c.Scenario}} / {{$c.Check}}{{end}}</p>{{end}}
</section>
{{end}}
<section id="summary">
<h2>Summary</h2>
<table>
<thead><tr><th>scenario</th><th>verdict</th><th>passed</th><th>failed</th><th>errors</th><th>skipped</th><th>charts</th><th>duration</th></tr></thead>
<tbody>
{{range .Scenarios}}<tr class="{{.Verdict}}"><td><a href="#{{.ID}}">{{.S.Name}}</a></td><td><span class="badge {{.Verdict}}">{{upper .Verdict}}</span></td><td class="num">{{.Counts.Pass}}</td><td class="num">{{.Counts.Fail}}</td><td class="num">{{.Counts.Errs}}</td><td class="num">{{.Counts.Skip}}</td><td class="num">{{len .Charts}}</td><td class="num">{{.Duration}}</td></tr>
{{else}}<tr><td colspan="8">no scenarios ran</td></tr>
{{end}}</tbody>
</table>
</section>

{{if .Failing}}
<section id="failing">
<h2>Failing checks ({{len .Failing}})</h2>
<table>
<thead><tr><th>scenario</th><th>check</th><th>measured</th><th>budget</th><th>explanation</th></tr></thead>
<tbody>
{{range .Failing}}<tr class="{{.Verdict}}"><td><a href="#{{.ScenarioID}}">{{.Scenario}}</a></td><td>{{if .ChartID}}<a href="#{{.ChartID}}">{{.C.Name}}</a>{{else}}{{.C.Name}}{{end}}</td><td>{{.C.Measured}}</td><td>{{.C.Budget}}</td><td>{{short .C.Explanation}}</td></tr>
{{end}}</tbody>
</table>
</section>
{{end}}

{{range .Scenarios}}
<section class="scenario" id="{{.ID}}">
<h2><span class="badge {{.Verdict}}">{{upper .Verdict}}</span> {{.S.Name}}</h2>
<p class="muted">seed <code>{{.S.Seed}}</code>{{if .Started}} · started {{.Started}}{{end}} · duration {{.Duration}}</p>
{{if .Params}}<details><summary>parameters ({{len .Params}})</summary><table><tbody>{{range .Params}}<tr><th>{{.K}}</th><td><code>{{.V}}</code></td></tr>{{end}}</tbody></table></details>{{end}}
{{if .S.Error}}<div class="errbox">scenario error: {{.S.Error}}</div>{{end}}
<h3>Checks</h3>
<table>
<thead><tr><th>check</th><th>verdict</th><th>measured</th><th>budget</th><th>explanation</th></tr></thead>
<tbody>
{{range .Checks}}<tr class="{{.Verdict}}"><td>{{if .ChartID}}<a href="#{{.ChartID}}">{{.C.Name}}</a>{{else}}{{.C.Name}}{{end}}{{with .C.ID}} <code class="id">{{.}}</code>{{end}}</td><td><span class="badge {{.Verdict}}">{{upper .Verdict}}</span></td><td>{{.C.Measured}}</td><td>{{.C.Budget}}</td><td>{{.C.Explanation}}</td></tr>
{{else}}<tr><td colspan="5">no checks</td></tr>
{{end}}</tbody>
</table>
{{range .Checks}}{{if .C.Objects}}<h4 class="objects">Objects held: {{.C.Name}}{{with .C.ID}} <code class="id">{{.}}</code>{{end}}</h4>
<table class="objects">
<thead><tr><th>kind</th><th>signature</th><th>count</th><th>growth</th><th>deleted scopes</th><th>example</th></tr></thead>
<tbody>
{{range .C.Objects}}<tr><td>{{.Kind}}</td><td><code>{{.Signature}}</code></td><td>{{.Count}}</td><td>{{printf "%+d" .Growth}}</td><td>{{.Scope}}</td><td><code>{{.Example}}</code></td></tr>
{{end}}</tbody>
</table>
{{end}}{{end}}{{if .Charts}}<h3>Charts</h3>
<div class="charts">
{{range .Charts}}<figure class="chart{{if .Failed}} failed{{end}}" id="{{.ID}}" data-kind="{{.Kind}}">
{{if .Err}}<div class="errbox">chart “{{.Title}}” not drawn: {{.Err}}</div>{{else}}{{.SVGHTML}}
{{if .Legend}}<ul class="legend">{{range .Legend}}<li><span class="sw {{.Style}}" style="--c:{{.Color}}"></span>{{.Label}}</li>{{end}}</ul>{{end}}{{end}}
<figcaption><b>{{.Title}}</b> — {{.Caption}}{{range .Checks}}<br>check <b>{{.Name}}</b>: {{upper (printf "%s" .Verdict)}} — measured {{.Measured}}, budget {{.Budget}}{{if .Explanation}}; {{.Explanation}}{{end}}{{end}}</figcaption>
</figure>
{{end}}</div>{{end}}
{{if .Faults}}<details><summary>fault log ({{len .Faults}}{{if .MoreF}} of {{len .S.Faults}}{{end}})</summary>
<table><thead><tr><th>at</th><th>action</th><th>fault</th><th>host</th><th>repo</th></tr></thead><tbody>
{{range .Faults}}<tr><td class="num">{{secs .At}}</td><td>{{.Action}}</td><td>{{.Fault}}</td><td>{{.Host}}</td><td>{{.Repo}}</td></tr>
{{end}}</tbody></table>{{if .MoreF}}<p class="muted">{{.MoreF}} more events in report.json.</p>{{end}}</details>{{end}}
{{if .Markers}}<details><summary>markers ({{len .Markers}}{{if .MoreM}} of {{len .S.Markers}}{{end}})</summary>
<table><thead><tr><th>at</th><th>kind</th><th>label</th></tr></thead><tbody>
{{range .Markers}}<tr><td class="num">{{secs .At}}</td><td>{{.Kind}}</td><td>{{.Label}}</td></tr>
{{end}}</tbody></table>{{if .MoreM}}<p class="muted">{{.MoreM}} more markers in report.json.</p>{{end}}</details>{{end}}
{{if .S.Logs}}<details><summary>logs ({{len .S.Logs}})</summary><ul>{{range .S.Logs}}<li><code>{{.}}</code></li>{{end}}</ul></details>{{end}}
</section>
{{end}}
<footer>gitchaos report · self-contained: no scripts, no network · re-render with <code>gitchaos report report.json --html report.html</code></footer>
</body>
</html>
`
