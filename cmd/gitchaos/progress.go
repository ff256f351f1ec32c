package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/internal/gates"
)

// terminalWidth reports whether w is a terminal (golang.org/x/term: a tty,
// not merely a character device such as /dev/null) and its width in
// columns (80 when the size is unknown).
func terminalWidth(w io.Writer) (width int, ok bool) {
	f, isFile := w.(*os.File)
	if !isFile || !term.IsTerminal(int(f.Fd())) {
		return 0, false
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil || width <= 0 {
		width = 80
	}
	return width, true
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	_, ok := terminalWidth(w)
	return ok
}

// clampLine cuts line to fit width-1 columns (so the cursor never wraps),
// ending a cut line with "…". width <= 1 leaves it alone.
func clampLine(line string, width int) string {
	if width <= 1 || utf8.RuneCountInString(line) <= width-1 {
		return line
	}
	r := []rune(line)
	return string(r[:width-2]) + "…"
}

// liveLine is one line redrawn in place on a terminal: cut to the
// terminal's width, padded over a longer line drawn before it.
type liveLine struct {
	w     io.Writer
	width int    // terminal columns (0: no limit)
	n     int    // runes of the line on screen
	text  string // the line on screen
	shown bool   // a line was drawn and not ended
}

// draw replaces the line on screen with line.
func (l *liveLine) draw(line string) {
	line = clampLine(line, l.width)
	n := utf8.RuneCountInString(line)
	pad := ""
	if l.n > n {
		pad = strings.Repeat(" ", l.n-n)
	}
	fmt.Fprintf(l.w, "\r%s%s", line, pad)
	l.n, l.text, l.shown = n, line, true
}

// end moves past a drawn line, so that what follows starts a line.
func (l *liveLine) end() {
	if l.shown {
		fmt.Fprintln(l.w)
	}
}

// gateProgress prints each scenario's verdict line as it finishes, with its
// time; on a terminal it also keeps one live line for the running
// scenario, redrawn in place.
type gateProgress struct {
	w     io.Writer
	term  bool
	width int
	tick  time.Duration

	mu       sync.Mutex
	running  string    // live line prefix of the running scenario ("" between scenarios)
	since    time.Time // its start
	drawnLen int       // runes of the live line on screen (0: none)
	drawn    string    // the live line on screen
	stop     chan struct{}
	stopped  chan struct{}
}

func newGateProgress(w io.Writer) *gateProgress {
	width, isTerm := terminalWidth(w)
	return &gateProgress{w: w, term: isTerm, width: width, tick: 250 * time.Millisecond}
}

// event is gates.Options.Progress.
func (p *gateProgress) event(ev gates.SuiteEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ev.Result == nil {
		p.running = fmt.Sprintf("[%d/%d] %s running", ev.Index+1, ev.Total, ev.Name)
		p.since = time.Now()
		if p.term {
			p.drawLocked()
			if p.stop == nil {
				p.stop, p.stopped = make(chan struct{}), make(chan struct{})
				go p.redraw(p.stop, p.stopped)
			}
		}
		return
	}
	p.running = ""
	p.clearLocked()
	fmt.Fprintln(p.w, verdictLine(ev))
}

// redraw refreshes the live line's clock until stop closes.
func (p *gateProgress) redraw(stop <-chan struct{}, stopped chan<- struct{}) {
	defer close(stopped)
	t := time.NewTicker(p.tick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			p.mu.Lock()
			p.drawLocked()
			p.mu.Unlock()
		}
	}
}

func (p *gateProgress) drawLocked() {
	if p.running == "" {
		return
	}
	line := clampLine(fmt.Sprintf("%s %s", p.running, fmtDur(time.Since(p.since))), p.width)
	if p.drawnLen > 0 && line == p.drawn {
		return // unchanged: nothing to redraw
	}
	p.drawn = line
	n := utf8.RuneCountInString(line)
	pad := ""
	if p.drawnLen > n {
		pad = strings.Repeat(" ", p.drawnLen-n)
	}
	fmt.Fprintf(p.w, "\r%s%s", line, pad)
	if pad != "" {
		fmt.Fprintf(p.w, "\r%s", line)
	}
	p.drawnLen = n
}

func (p *gateProgress) clearLocked() {
	if p.drawnLen > 0 {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.drawnLen))
		p.drawnLen = 0
	}
}

// logWriter wraps w (stderr) so that on a terminal each log write first
// clears the live line, which the next tick redraws.
func (p *gateProgress) logWriter(w io.Writer) io.Writer {
	if !p.term {
		return w
	}
	return writerFunc(func(b []byte) (int, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.clearLocked()
		return w.Write(b)
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// done stops the redraw and clears the live line.
func (p *gateProgress) done() {
	p.mu.Lock()
	stop, stopped := p.stop, p.stopped
	p.stop = nil
	p.running = ""
	p.clearLocked()
	p.mu.Unlock()
	if stop != nil {
		close(stop)
		<-stopped
	}
}

// verdictLine is one finished scenario: position, verdict, name, check
// counts, failing checks, time.
func verdictLine(ev gates.SuiteEvent) string {
	res := ev.Result
	counts := map[result.Verdict]int{}
	var failing []string
	for _, c := range res.Checks {
		counts[c.Verdict]++
		if c.Verdict == result.Fail || c.Verdict == result.Error {
			failing = append(failing, c.Name)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[%d/%d] %-5s %s: %d checks", ev.Index+1, ev.Total, strings.ToUpper(string(res.Verdict())), res.Name, len(res.Checks))
	if n := counts[result.Fail] + counts[result.Error]; n > 0 {
		fmt.Fprintf(&b, ", %d failed (%s)", n, strings.Join(failing, "; "))
	}
	if n := counts[result.Skip]; n > 0 {
		fmt.Fprintf(&b, ", %d skipped", n)
	}
	if res.Error != "" {
		fmt.Fprintf(&b, ", error: %s", firstLine(res.Error))
	}
	fmt.Fprintf(&b, " in %.1f s", float64(res.Duration))
	return b.String()
}
