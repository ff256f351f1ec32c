package reports

import (
	"bytes"
	"encoding/xml"
	"errors"
	"html"
	"io"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/gitchaos/gitchaos/harness/result"
)

func renderHTML(t *testing.T, run *result.Run) string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteHTML(&buf, run); err != nil {
		t.Fatalf("WriteHTML: %v", err)
	}
	return buf.String()
}

var (
	svgRE    = regexp.MustCompile(`(?s)<svg\b.*?</svg>`)
	figureRE = regexp.MustCompile(`(?s)<figure class="chart( failed)?" id="([^"]+)" data-kind="([^"]+)">(.*?)</figure>`)
)

// figure is one chart as it appears in the page.
type figure struct {
	Failed         bool
	ID, Kind, Body string
}

func figures(page string) []figure {
	var out []figure
	for _, m := range figureRE.FindAllStringSubmatch(page, -1) {
		// html/template writes "+" as "&#43;": compare what a reader sees.
		out = append(out, figure{Failed: m[1] != "", ID: m[2], Kind: m[3], Body: html.UnescapeString(m[4])})
	}
	return out
}

// TestHTMLFailingGate: the leaking metric's chart is there, outlined,
// linked from its check, with slope, CI and budget in words.
func TestHTMLFailingGate(t *testing.T) {
	run := sampleFailingRun()
	page := renderHTML(t, run)
	figs := figures(page)
	if len(figs) != 6 { // churn 4 per-cycle, boot progress, timeout histogram
		t.Fatalf("%d charts, want 6", len(figs))
	}
	kinds := map[string]int{}
	for _, f := range figs {
		kinds[f.Kind]++
		if !strings.Contains(f.Body, "<svg") {
			t.Errorf("chart %s has no inline svg: %.300s", f.ID, f.Body)
		}
	}
	if kinds["per-cycle"] != 4 || kinds["progress"] != 1 || kinds["histogram"] != 1 {
		t.Errorf("chart kinds %v, want 4 per-cycle, 1 progress, 1 histogram", kinds)
	}
	fds := figs[0]
	if fds.ID != "s0-chart-0" || !fds.Failed {
		t.Fatalf("first chart = %s (failed=%v), want the failing fds chart outlined", fds.ID, fds.Failed)
	}
	for _, want := range []string{
		`aria-label="fds per cycle"`,
		"Slope (theil-sen over cycles 4–30): +1.02 fds/cycle, CI [+0.97 fds/cycle, +1.07 fds/cycle]; budget +0 fds/cycle.",
		"The whole CI lies above the budget.",
		"check <b>fds flat</b>: FAIL — measured +1.02 fds/cycle, budget <= 0 fds/cycle",
	} {
		if !strings.Contains(fds.Body, want) {
			t.Errorf("fds chart lacks %q", want)
		}
	}
	// The legend inside the SVG states the fitted slope too.
	if !strings.Contains(fds.Body, "fit +1.02 fds/cycle") || !strings.Contains(fds.Body, "budget +0 fds/cycle") {
		t.Errorf("fds chart legend lacks the fit and budget entries")
	}
	if !strings.Contains(page, `<a href="#s0-chart-0">fds flat</a>`) {
		t.Errorf("the failing check does not link to its chart")
	}
	for _, f := range figs[1:] {
		if f.Failed {
			t.Errorf("chart %s is outlined as failed but its checks passed", f.ID)
		}
	}
	i := strings.Index(page, `<section id="failing">`)
	j := strings.Index(page, `<section class="scenario"`)
	if i < 0 || j < i {
		t.Errorf("failing-checks section at %d, first scenario at %d; want the failing checks first", i, j)
	}
	if !strings.Contains(page, "scenario error: testbed: start git host h1") {
		t.Errorf("errored scenario's message missing")
	}
	if run.Verdict() != result.Fail || !strings.Contains(page, "<title>gitchaos gate FAIL — gate-20261123-091500</title>") {
		t.Errorf("title does not carry the verdict")
	}
}

// TestHTMLSelfContained: nothing in the page reaches the network, runs a
// script, or needs another file.
func TestHTMLSelfContained(t *testing.T) {
	page := renderHTML(t, sampleFailingRun())
	if !strings.Contains(page, `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`) {
		t.Errorf("page lacks its Content-Security-Policy")
	}
	for _, bad := range []string{"<script", "<link", "<img", "<iframe", "@import", "url(", "<object", "<embed"} {
		if strings.Contains(strings.ToLower(page), bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	for _, m := range regexp.MustCompile(`\b(?:src|href|xlink:href)="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		if !strings.HasPrefix(m[1], "#") {
			t.Errorf("page references %q; only in-page anchors are allowed", m[1])
		}
	}
}

// TestHTMLSVGWellFormed: every inlined chart parses as XML, even with
// markup in series names.
func TestHTMLSVGWellFormed(t *testing.T) {
	run := sampleFailingRun()
	run.Scenarios[0].Series[1].Name = `rss <b>&</b> "quoted"`
	page := renderHTML(t, run)
	svgs := svgRE.FindAllString(page, -1)
	if len(svgs) != 6 {
		t.Fatalf("%d svgs, want 6", len(svgs))
	}
	for i, s := range svgs {
		d := xml.NewDecoder(strings.NewReader(s))
		for {
			_, err := d.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Errorf("svg %d is not well-formed XML: %v", i, err)
				break
			}
		}
	}
	if strings.Contains(page, "<b>&</b>") {
		t.Errorf("series name markup reached the page unescaped")
	}
}

// TestHTMLEscapes: run data never becomes markup.
func TestHTMLEscapes(t *testing.T) {
	run := samplePassingRun()
	run.ID = `<script>alert("id")</script>`
	run.Scenarios[0].Checks[0].Explanation = `<img src=x onerror=alert(1)>`
	page := renderHTML(t, run)
	if strings.Contains(page, "<script>alert") || strings.Contains(page, "<img src=x") {
		t.Errorf("run data reached the page as markup")
	}
	if !strings.Contains(page, "&lt;img src=x onerror=alert(1)&gt;") {
		t.Errorf("explanation missing (escaped)")
	}
}

// TestHTMLBadSeries: a series that cannot be drawn becomes a note; the rest
// of the page renders.
func TestHTMLBadSeries(t *testing.T) {
	run := samplePassingRun()
	churn := run.Scenarios[2]
	churn.Series = append(churn.Series,
		result.Series{Name: "empty", Metric: "fds", XUnit: XUnitCycle},
		result.Series{Name: "all NaN", Metric: "rss_bytes", XUnit: XUnitSeconds, Points: []result.Point{{X: math.NaN(), Y: 1}, {X: 1, Y: math.Inf(1)}}},
		result.Series{Name: "bad fit", Metric: "fds", XUnit: XUnitCycle, Points: []result.Point{{X: 1, Y: 1}, {X: 2, Y: 2}}, Fit: &result.Fit{Slope: math.NaN()}},
		result.Series{Name: "one point", Metric: MetricTimeoutOvershoot, Points: []result.Point{{X: 0, Y: 0.01}}},
	)
	page := renderHTML(t, run)
	for _, want := range []string{
		`chart “empty” not drawn: series &#34;empty&#34; has no finite points`,
		`chart “all NaN” not drawn: series &#34;all NaN&#34; has no finite points`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks note %q", want)
		}
	}
	figs := figures(page)
	drawn := 0
	for _, f := range figs {
		if strings.Contains(f.Body, "<svg") {
			drawn++
		}
	}
	if len(figs) != 10 || drawn != 8 { // 6 sample charts + bad fit (drawn without fit) + one point
		t.Errorf("%d charts, %d drawn; want 10 and 8", len(figs), drawn)
	}
}

// TestHTMLSoakTimeline: a long soak's sampled series is thinned for
// drawing but keeps its spike, and fault windows from the fault log are
// shaded and listed.
func TestHTMLSoakTimeline(t *testing.T) {
	run := sampleSoakRun(20000)
	page := renderHTML(t, run)
	figs := figures(page)
	if len(figs) != 3 {
		t.Fatalf("%d charts, want 3", len(figs))
	}
	fds := figs[0]
	for _, want := range []string{"20000 samples over 2h46m40s", "Drawn thinned to", "Shaded: blackhole h1 10m0s–12m0s"} {
		if !strings.Contains(fds.Body, want) {
			t.Errorf("soak fd chart caption lacks %q:\n%.2000s", want, fds.Body[strings.Index(fds.Body, "<figcaption>"):])
		}
	}
	if n := strings.Count(fds.Body, "<path"); n == 0 {
		t.Errorf("soak chart has no paths")
	}
	if len(page) > 2<<20 {
		t.Errorf("page is %d bytes for a 20000-sample soak; thinning should keep it under 2 MiB", len(page))
	}
}

// TestHTMLLongErrorShortInSummary: a panic's stack is cut in the summary
// table and shown whole in the scenario's section.
func TestHTMLLongErrorShortInSummary(t *testing.T) {
	run := sampleFailingRun()
	stack := "panic: boom " + strings.Repeat("goroutine 1 [running]: main.f() /x.go:1 ", 100) + "END-OF-STACK"
	run.Scenarios[3].Error = stack
	page := renderHTML(t, run)
	failing := page[strings.Index(page, `<section id="failing">`):]
	failing = failing[:strings.Index(failing, "</section>")]
	if strings.Contains(failing, "END-OF-STACK") || !strings.Contains(failing, "panic: boom") {
		t.Errorf("failing-checks table shows the whole %d-byte stack, want it cut to %d", len(stack), htmlSummaryCell)
	}
	if !strings.Contains(page, "scenario error: "+stack) {
		t.Errorf("scenario section lacks the whole error")
	}
}

func benchmarkHTML(b *testing.B, run *result.Run) {
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := WriteHTML(&buf, run); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes/page")
}

func BenchmarkWriteHTMLFailingGate(b *testing.B) { benchmarkHTML(b, sampleFailingRun()) }

// BenchmarkWriteHTMLSoak: an 8-hour soak sampled every 0.5 s (57,600
// samples in each of 3 series).
func BenchmarkWriteHTMLSoak(b *testing.B) { benchmarkHTML(b, sampleSoakRun(57600)) }

// TestHTMLObjects: a check that names held objects gets a table of them
// (kind, signature, count, growth, deleted scopes, example), escaped.
func TestHTMLObjects(t *testing.T) {
	run := sampleFailingRun()
	c := &run.Scenarios[0].Checks[0]
	c.Objects = []result.Object{{Kind: "fd", Signature: "file <base>/git_sources/<id>/objects/pack/pack-<hex>.pack (deleted)",
		Count: 8, Growth: 8, Example: "fd 11 file /tmp/x/pack-09b9.pack (deleted)", Scope: "churn-000,churn-001"}}
	page := renderHTML(t, run)
	for _, want := range []string{`<table class="objects">`, "Objects held: " + html.EscapeString(c.Name),
		"file &lt;base&gt;/git_sources/&lt;id&gt;/objects/pack/pack-&lt;hex&gt;.pack (deleted)", "churn-000,churn-001", "fd 11 file /tmp/x/pack-09b9.pack (deleted)"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if n := strings.Count(page, `<table class="objects">`); n != 1 {
		t.Errorf("%d objects tables, want 1 (one check has objects)", n)
	}
}
