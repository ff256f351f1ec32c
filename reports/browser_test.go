package reports

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The browser tests open report.html in a real headless Chromium (Debian
// package "chromium"; GITCHAOS_CHROMIUM names another binary) and are
// skipped, saying so, where none is installed.

func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("GITCHAOS_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome-headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium found (Debian: apt-get install chromium; or set GITCHAOS_CHROMIUM); browser test of report.html skipped")
	return ""
}

// runChromium runs headless Chromium on a file with extra flags (what to
// produce) and returns its stdout and the console messages it logged.
// Every network name resolves to nothing, so a page that tried to fetch
// anything would fail (and the page's CSP logs a console message first).
func runChromium(t *testing.T, file string, flags ...string) (stdout string, console []string) {
	t.Helper()
	bin := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
		"--disable-extensions", "--disable-background-networking", "--disable-sync",
		"--hide-scrollbars", "--force-device-scale-factor=1", "--mute-audio",
		"--host-resolver-rules=MAP * ~NOTFOUND",
		"--enable-logging=stderr", "--v=0",
		"--user-data-dir=" + t.TempDir(),
	}, flags...)
	args = append(args, "file://"+file)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	cmd.Dir = t.TempDir()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	// Chromium's helper processes share its process group: leave none.
	if cmd.Process != nil {
		if kerr := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); kerr != nil && !errors.Is(kerr, syscall.ESRCH) {
			t.Logf("kill chromium process group: %v", kerr)
		}
	}
	if err != nil {
		t.Fatalf("chromium %s: %v (ctx: %v)\nstderr:\n%s", strings.Join(flags, " "), err, ctx.Err(), tail(errb.String(), 3000))
	}
	for _, line := range strings.Split(errb.String(), "\n") {
		if strings.Contains(line, ":CONSOLE") {
			console = append(console, line)
		}
	}
	return out.String(), console
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// TestBrowserConsoleDetector proves the console check can fail: a page
// that tries to load a remote image under the same CSP is caught.
func TestBrowserConsoleDetector(t *testing.T) {
	chromium(t)
	page := filepath.Join(t.TempDir(), "bad.html")
	const bad = `<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"></head>` +
		`<body><img src="http://example.invalid/chart.png"></body></html>`
	if err := os.WriteFile(page, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	_, console := runChromium(t, page, "--dump-dom")
	if len(console) == 0 {
		t.Fatal("a page loading a remote image logged no console message; the detector would miss a broken report")
	}
}

// TestBrowserFailingGate is the acceptance test of the HTML report: a
// failing gate's page loads in Chromium with no console message, its DOM
// holds every chart as SVG with the leak's numbers, and a screenshot shows
// the failing fds chart (outlined) with the data, the red fitted slope and
// the green budget line drawn in it.
func TestBrowserFailingGate(t *testing.T) {
	chromium(t)
	dir := t.TempDir()
	if err := WriteAll(dir, sampleFailingRun()); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(dir, FileHTML)

	dom, console := runChromium(t, page, "--dump-dom")
	if len(console) > 0 {
		t.Errorf("report.html logged %d console messages:\n%s", len(console), strings.Join(console, "\n"))
	}
	if n := strings.Count(dom, "<svg"); n != 6 {
		t.Errorf("DOM holds %d <svg> elements, want 6 charts", n)
	}
	i := strings.Index(dom, `<figure class="chart failed" id="s0-chart-0" data-kind="per-cycle">`)
	if i < 0 {
		t.Fatalf("DOM lacks the outlined fds chart; DOM starts:\n%.2000s", dom)
	}
	fig := dom[i:]
	fig = fig[:strings.Index(fig, "</figure>")]
	for _, want := range []string{`aria-label="fds per cycle"`, "fit +1.02 fds/cycle", "+1.02 fds/cycle, CI [+0.97 fds/cycle, +1.07 fds/cycle]", "27 deleted scopes left 27 descriptors open"} {
		if !strings.Contains(fig, want) {
			t.Errorf("fds chart in the DOM lacks %q", want)
		}
	}

	shot := filepath.Join(t.TempDir(), "report.png")
	_, console = runChromium(t, page, "--window-size=1400,3000", "--screenshot="+shot)
	if len(console) > 0 {
		t.Errorf("screenshot run logged console messages:\n%s", strings.Join(console, "\n"))
	}
	img := decodePNG(t, shot)
	if n := distinctColors(img, 1000); n < 50 {
		t.Fatalf("screenshot has %d distinct colors; blank page?", n)
	}
	box, ok := outlinedBox(img, color.RGBA{R: 0xa3, G: 0x15, B: 0x15, A: 0xff})
	if !ok {
		t.Fatalf("no outlined (failed) chart found in the %v screenshot %s", img.Bounds().Size(), keep(t, shot))
	}
	if w, h := box.Dx(), box.Dy(); w < 400 || h < 250 {
		t.Fatalf("failed chart box %v is %dx%d px; too small to be a chart (%s)", box, w, h, keep(t, shot))
	}
	for _, c := range []struct {
		what string
		col  color.RGBA
		min  int
	}{
		{"fds data (blue)", colorData, 300},
		{"fitted slope (red)", colorFit, 300},
		{"budget line (green)", colorBudget, 100},
	} {
		if n := countNear(img, box, c.col, 40); n < c.min {
			t.Errorf("%s: %d pixels inside the failed chart %v, want >= %d (%s)", c.what, n, box, c.min, keep(t, shot))
		}
	}
}

// keep copies a screenshot out of the test's temp dir when a check fails,
// so it can be looked at.
func keep(t *testing.T, path string) string {
	dst := filepath.Join(os.TempDir(), fmt.Sprintf("gitchaos-%s-%d.png", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano()))
	b, err := os.ReadFile(path)
	if err == nil {
		err = os.WriteFile(dst, b, 0o644)
	}
	if err != nil {
		return "screenshot not kept: " + err.Error()
	}
	return "screenshot kept at " + dst
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decode screenshot %s: %v", path, err)
	}
	return img
}

func rgb(c color.Color) (r, g, b int) {
	r32, g32, b32, _ := c.RGBA()
	return int(r32 >> 8), int(g32 >> 8), int(b32 >> 8)
}

// distinctColors counts colors up to limit.
func distinctColors(img image.Image, limit int) int {
	seen := map[[3]int]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl := rgb(img.At(x, y))
			seen[[3]int{r, g, bl}] = true
			if len(seen) >= limit {
				return len(seen)
			}
		}
	}
	return len(seen)
}

// outlinedBox finds the rectangle drawn by a border of exactly col: rows
// with a long run of it are its top and bottom, columns its sides (the
// same color in small badges stays below both thresholds).
func outlinedBox(img image.Image, col color.RGBA) (image.Rectangle, bool) {
	b := img.Bounds()
	is := func(x, y int) bool {
		r, g, bl := rgb(img.At(x, y))
		return r == int(col.R) && g == int(col.G) && bl == int(col.B)
	}
	minY, maxY := -1, -1
	for y := b.Min.Y; y < b.Max.Y; y++ {
		n := 0
		for x := b.Min.X; x < b.Max.X; x++ {
			if is(x, y) {
				n++
			}
		}
		if n >= 400 {
			if minY < 0 {
				minY = y
			}
			maxY = y
		}
	}
	if minY < 0 || maxY-minY < 50 {
		return image.Rectangle{}, false
	}
	minX, maxX := -1, -1
	for x := b.Min.X; x < b.Max.X; x++ {
		n := 0
		for y := minY; y <= maxY; y++ {
			if is(x, y) {
				n++
			}
		}
		if n >= (maxY-minY)*8/10 {
			if minX < 0 {
				minX = x
			}
			maxX = x
		}
	}
	if minX < 0 || maxX-minX < 50 {
		return image.Rectangle{}, false
	}
	return image.Rect(minX, minY, maxX+1, maxY+1), true
}

// countNear counts pixels in r within dist (sum of channel differences) of c.
func countNear(img image.Image, r image.Rectangle, c color.RGBA, dist int) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			pr, pg, pb := rgb(img.At(x, y))
			if abs(pr-int(c.R))+abs(pg-int(c.G))+abs(pb-int(c.B)) <= dist {
				n++
			}
		}
	}
	return n
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
