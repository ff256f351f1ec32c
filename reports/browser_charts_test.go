package reports

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gitchaos/gitchaos/harness/result"
)

// chartKindRuns returns one run per chart kind, each with one scenario
// whose one series backs a failing check (so the chart is the outlined box
// in a screenshot). They hold what report.html got wrong before: seven
// overlapping fault windows over a progress curve, a latency series over
// time under a fault, a per-cycle series whose budget label is long, and a
// histogram with its budget line.
func chartKindRuns() map[string]*result.Run {
	run := func(sc *result.Scenario) *result.Run {
		return &result.Run{ID: "charts-" + sc.Name, Kind: "gate", Seed: 1, Target: "sample", Testbed: "local",
			Started: sampleStart, Duration: sc.Duration, Versions: sampleVersions(), Scenarios: []*result.Scenario{sc}}
	}
	failing := func(series string) result.Check {
		return result.Check{Name: "backed by " + series, Measured: "x", Budget: "y", Verdict: result.Fail, Series: series}
	}

	// progress: 50 scopes served over 6 s while seven blackholes overlap.
	served := []result.Point{{X: 0, Y: 0}}
	for i := 1; i <= 50; i++ {
		served = append(served, result.Point{X: 0.1 * float64(i), Y: float64(i)})
	}
	var faults []result.FaultEvent
	for i := range 7 {
		repo := fmt.Sprintf("r%03d", i)
		faults = append(faults,
			result.FaultEvent{At: result.Seconds(0.3 + 0.1*float64(i)), Host: "h1", Repo: repo, Fault: "blackhole", Action: result.FaultInject},
			result.FaultEvent{At: result.Seconds(4.5 + 0.1*float64(i)), Host: "h1", Repo: repo, Fault: "blackhole", Action: result.FaultRecover})
	}
	faults = append(faults, result.FaultEvent{At: 2, Host: "h2", Fault: "offline", Action: result.FaultInject}, result.FaultEvent{At: 3, Host: "h2", Fault: "offline", Action: result.FaultRecover})
	progress := &result.Scenario{Name: "boot", Duration: 6, Checks: []result.Check{failing("scopes served")},
		Series: []result.Series{{Name: "scopes served", Metric: MetricScopesServed, Unit: "scopes", XUnit: XUnitSeconds, Points: served}},
		Faults: faults}

	// time: API latency of 125 calls over 2.5 s under a blackhole.
	var lat []result.Point
	for i := range 125 {
		lat = append(lat, result.Point{X: 1 + 0.02*float64(i), Y: 0.002 + 0.001*math.Sin(float64(i)/5)})
	}
	timeSc := &result.Scenario{Name: "offline", Duration: 4, Checks: []result.Check{failing("API latency during the hang")},
		Series: []result.Series{{Name: "API latency during the hang", Metric: "api_latency", Unit: "s", XUnit: XUnitSeconds, Points: lat}},
		Faults: []result.FaultEvent{{At: 0.8, Host: "h1", Fault: "blackhole", Action: "inject"}, {At: 3.6, Host: "h1", Fault: "blackhole", Action: "recover"}}}

	// per-cycle: RSS over 30 cycles with a fit and a 512 KiB/cycle budget.
	var rss []result.Point
	for c := 1; c <= 30; c++ {
		rss = append(rss, result.Point{X: float64(c), Y: 48<<20 + float64(c)*(300<<10) + float64(c%3)*(200<<10)})
	}
	cycle := &result.Scenario{Name: "churn", Duration: 30, Checks: []result.Check{failing("rss_bytes per cycle")},
		Series: []result.Series{{Name: "rss_bytes per cycle", Metric: "rss_bytes", Unit: "bytes", XUnit: XUnitCycle, Points: rss,
			Fit: &result.Fit{Method: "theil-sen", Slope: 300 << 10, Intercept: 48 << 20, Low: 250 << 10, High: 350 << 10, FromX: 4, ToX: 30, Budget: 512 << 10}}}}

	// histogram: 40 overshoots with a 100 ms budget.
	sc := timeoutScenario(1)
	sc.Checks[0].Verdict = result.Fail
	return map[string]*result.Run{"progress": run(progress), "time": run(timeSc), "per-cycle": run(cycle), "histogram": run(sc)}
}

// layoutScript, appended to a copy of the page (its CSP lifted), lists
// every text of a chart that its box does not hold: legend entries wider
// than their line or outside the figure, and SVG texts outside the SVG.
const layoutScript = `<script>
(function(){
  var out=[];
  document.querySelectorAll('figure.chart').forEach(function(f){
    var fr=f.getBoundingClientRect();
    var items=f.querySelectorAll('ul.legend li');
    out.push('chart '+f.getAttribute('data-kind')+' legend items '+items.length);
    items.forEach(function(li){
      var r=li.getBoundingClientRect();
      if(li.scrollWidth>li.clientWidth+1||r.right>fr.right+0.5||r.left<fr.left-0.5){out.push('CUT legend: '+li.textContent);}
    });
    var svg=f.querySelector('svg'); if(!svg){out.push('NO SVG');return;}
    var sr=svg.getBoundingClientRect(), n=0;
    svg.querySelectorAll('text').forEach(function(t){
      n++;
      var r=t.getBoundingClientRect();
      if(r.width===0){return;}
      var over=Math.max(r.right-sr.right,sr.left-r.left,sr.top-r.top,r.bottom-sr.bottom);
      if(over>0.5){out.push('CUT svg text: '+t.textContent+' ('+over.toFixed(1)+' px out)');}
    });
    out.push('svg texts '+n);
  });
  var pre=document.createElement('pre');pre.id='layout-check';pre.textContent=out.join('\n');document.body.appendChild(pre);
})();
</script>`

var cspMeta = regexp.MustCompile(`<meta http-equiv="Content-Security-Policy"[^>]*>`)

// layoutReport opens page with the layout script in Chromium and returns
// what it found.
func layoutReport(t *testing.T, page string) string {
	t.Helper()
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	html := cspMeta.ReplaceAllString(string(b), "")
	html = strings.Replace(html, "</body>", layoutScript+"</body>", 1)
	probe := filepath.Join(t.TempDir(), "layout.html")
	if err := os.WriteFile(probe, []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}
	dom, _ := runChromium(t, probe, "--window-size=1000,1400", "--dump-dom")
	m := regexp.MustCompile(`(?s)<pre id="layout-check">(.*?)</pre>`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("the layout script left no result in the DOM (did it run?); DOM starts:\n%.1500s", dom)
	}
	return m[1]
}

// TestBrowserLayoutDetector proves the layout check can fail: an SVG text
// running past the SVG's edge and a legend entry that cannot wrap are
// reported as cut.
func TestBrowserLayoutDetector(t *testing.T) {
	chromium(t)
	page := filepath.Join(t.TempDir(), "cut.html")
	const cut = `<!DOCTYPE html><html><body><figure class="chart" data-kind="time" style="width:300px">` +
		`<svg width="200" height="50" viewBox="0 0 200 50"><text x="150" y="20">scopes_served and more</text></svg>` +
		`<ul class="legend"><li style="display:block;width:60px;overflow:hidden;white-space:nowrap">budget +512 KiB/cycle</li></ul></figure></body></html>`
	if err := os.WriteFile(page, []byte(cut), 0o644); err != nil {
		t.Fatal(err)
	}
	got := layoutReport(t, page)
	for _, want := range []string{"CUT svg text: scopes_served and more", "CUT legend: budget +512 KiB/cycle"} {
		if !strings.Contains(got, want) {
			t.Errorf("layout check missed %q; it reported:\n%s", want, got)
		}
	}
}

// TestBrowserChartKinds screenshots a report of each chart kind in
// headless Chromium and checks that the series is visible along its
// length (pixel sampling: the data color in most columns of the plot),
// that fault bands stay translucent (the series' background is not
// painted over), that the budget and fit lines are drawn, and that no
// legend or axis text is cut.
func TestBrowserChartKinds(t *testing.T) {
	chromium(t)
	for kind, run := range chartKindRuns() {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			if err := WriteAll(dir, run); err != nil {
				t.Fatal(err)
			}
			page := filepath.Join(dir, FileHTML)
			layout := layoutReport(t, page)
			if strings.Contains(layout, "CUT") || !strings.Contains(layout, "chart "+kind+" legend items") {
				t.Errorf("layout of the %s chart:\n%s", kind, layout)
			}
			shot := filepath.Join(t.TempDir(), kind+".png")
			if _, console := runChromium(t, page, "--window-size=1000,1400", "--screenshot="+shot); len(console) > 0 {
				t.Errorf("console messages:\n%s", strings.Join(console, "\n"))
			}
			if dst := os.Getenv("GITCHAOS_KEEP_SCREENSHOTS"); dst != "" {
				if b, err := os.ReadFile(shot); err == nil {
					_ = os.WriteFile(filepath.Join(dst, "chart-"+kind+".png"), b, 0o644)
				}
			}
			img := decodePNG(t, shot)
			box, ok := outlinedBox(img, color.RGBA{R: 0xa3, G: 0x15, B: 0x15, A: 0xff})
			if !ok {
				t.Fatalf("no outlined chart in the screenshot (%s)", keep(t, shot))
			}
			series := colorData
			if kind == "histogram" {
				series = colorHist // the bars
			}
			data := columnsWith(img, box, series, 30)
			// The series spans the plot: the data color in at least half
			// of the chart's columns (the plot is ~80% of the box); the
			// histogram's bars cover the range of its values only.
			min := box.Dx() * 45 / 100
			if kind == "histogram" {
				min = box.Dx() * 15 / 100
			}
			if data < min {
				t.Errorf("series visible in %d of %d columns of the chart, want >= %d (%s)", data, box.Dx(), min, keep(t, shot))
			}
			switch kind {
			case "per-cycle":
				for _, c := range []struct {
					what string
					col  color.RGBA
				}{{"fit (red)", colorFit}, {"budget (green)", colorBudget}} {
					if n := countNear(img, box, c.col, 40); n < 100 {
						t.Errorf("%s: %d pixels, want >= 100 (%s)", c.what, n, keep(t, shot))
					}
				}
			case "histogram":
				if n := countNear(img, box, colorFit, 40); n < 50 {
					t.Errorf("budget line (red): %d pixels, want >= 50 (%s)", n, keep(t, shot))
				}
			case "progress", "time":
				// Bands are tinted, never painted solid: the solid fault
				// color covers only the thin lanes along the top.
				solid := struct {
					color.NRGBA
					A0 uint8
				}{faultPalette[0], faultPalette[0].A}
				solid.A = 0xff
				lane := countNear(img, box, color.RGBA{R: solid.R, G: solid.G, B: solid.B, A: 0xff}, 60)
				if lane == 0 {
					t.Errorf("no fault lane drawn (%s)", keep(t, shot))
				}
				if area := box.Dx() * box.Dy(); lane > area/25 {
					t.Errorf("%d pixels of solid fault color (%.1f%% of the chart): the bands hide the plot (%s)", lane, 100*float64(lane)/float64(area), keep(t, shot))
				}
				over := func(c uint8) uint8 { return uint8(255 - float64(solid.A0)/255*float64(255-int(c))) }
				tint := countNear(img, box, color.RGBA{R: over(solid.R), G: over(solid.G), B: over(solid.B), A: 0xff}, 24)
				if tint < 2000 {
					t.Errorf("fault band tint: %d pixels, want >= 2000 (%s)", tint, keep(t, shot))
				}
			}
			t.Logf("%s: chart %v, series in %d columns; layout:\n%s", kind, box, data, layout)
		})
	}
}

// columnsWith counts the columns of r holding a pixel within dist of c.
func columnsWith(img image.Image, r image.Rectangle, c color.RGBA, dist int) int {
	n := 0
	for x := r.Min.X; x < r.Max.X; x++ {
		for y := r.Min.Y; y < r.Max.Y; y++ {
			pr, pg, pb := rgb(img.At(x, y))
			if abs(pr-int(c.R))+abs(pg-int(c.G))+abs(pb-int(c.B)) <= dist {
				n++
				break
			}
		}
	}
	return n
}
