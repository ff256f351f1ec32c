package flat

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"strings"
)

// Goroutine is one goroutine parsed from runtime.Stack(all).
type Goroutine struct {
	ID    int    `json:"id"`
	State string `json:"state"` // e.g. "chan receive", "IO wait, 2 minutes"
	// Top is the function at the top of the stack, e.g. "net/http.(*persistConn).readLoop".
	Top string `json:"top"`
	// Funcs are every function in the stack, top first (created-by excluded).
	Funcs []string `json:"funcs"`
	// CreatedBy is the function that started it, if shown.
	CreatedBy string `json:"created_by,omitempty"`
	Stack     string `json:"stack"` // the full text block
}

// Goroutines returns every goroutine of this process except the caller.
func Goroutines() []Goroutine {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	gs := ParseStacks(buf)
	// The first block is always the calling goroutine.
	if len(gs) > 0 {
		gs = gs[1:]
	}
	return gs
}

// ParseStacks parses the text of runtime.Stack(buf, true) (or a
// goroutine profile with debug=2).
func ParseStacks(b []byte) []Goroutine {
	var out []Goroutine
	for _, block := range bytes.Split(bytes.TrimSpace(b), []byte("\n\n")) {
		lines := strings.Split(string(block), "\n")
		if len(lines) == 0 || !strings.HasPrefix(lines[0], "goroutine ") {
			continue
		}
		g := Goroutine{Stack: string(block)}
		head := strings.TrimPrefix(lines[0], "goroutine ")
		if sp := strings.IndexByte(head, ' '); sp > 0 {
			g.ID, _ = strconv.Atoi(head[:sp])
			st := head[sp+1:]
			st = strings.TrimSuffix(strings.TrimPrefix(st, "["), "]:")
			g.State = st
		}
		for i := 1; i < len(lines); i++ {
			l := lines[i]
			if strings.HasPrefix(l, "\t") || l == "" {
				continue // file:line
			}
			if rest, ok := strings.CutPrefix(l, "created by "); ok {
				if k := strings.Index(rest, " in goroutine "); k >= 0 {
					rest = rest[:k]
				}
				g.CreatedBy = rest
				continue
			}
			if strings.HasPrefix(l, "...") {
				continue // "...additional frames elided..."
			}
			g.Funcs = append(g.Funcs, funcName(l))
		}
		if len(g.Funcs) > 0 {
			g.Top = g.Funcs[0]
		}
		out = append(out, g)
	}
	return out
}

// funcName strips the argument list: "pkg.(*T).m(0x1, ...)" -> "pkg.(*T).m".
func funcName(l string) string {
	if i := strings.LastIndexByte(l, '('); i > 0 && strings.HasSuffix(l, ")") {
		return l[:i]
	}
	return l
}

// IgnoreFuncs name goroutines that are not leaks of the code under test:
// Top matches the top function exactly, Any matches any function in the
// stack (including created-by). Pass known upstream leaks here, e.g. the
// two goroutines toxiproxy leaves behind when a client aborts under a
// bandwidth toxic (name their functions as they appear in the stack).
type IgnoreFuncs struct {
	Top []string
	Any []string
}

func (ig IgnoreFuncs) match(g Goroutine) bool {
	for _, f := range ig.Top {
		if g.Top == f {
			return true
		}
	}
	for _, f := range ig.Any {
		if g.CreatedBy == f {
			return true
		}
		for _, gf := range g.Funcs {
			if gf == f {
				return true
			}
		}
	}
	return false
}

// GoroutineBaseline is the set of goroutines alive at a point in time;
// goroutines started later (higher IDs are never reused while alive) and
// still alive are leak candidates.
type GoroutineBaseline struct {
	ids map[int]bool
	n   int
}

// BaselineGoroutines records the goroutines alive now.
func BaselineGoroutines() GoroutineBaseline {
	gs := Goroutines()
	b := GoroutineBaseline{ids: make(map[int]bool, len(gs)), n: len(gs)}
	for _, g := range gs {
		b.ids[g.ID] = true
	}
	return b
}

// Len is the number of goroutines in the baseline (the caller excluded).
func (b GoroutineBaseline) Len() int { return b.n }

// Leaked returns the goroutines alive now that are not in the baseline
// and not ignored (the caller excluded).
func (b GoroutineBaseline) Leaked(ignore IgnoreFuncs) []Goroutine {
	var out []Goroutine
	for _, g := range Goroutines() {
		if b.ids[g.ID] || ignore.match(g) {
			continue
		}
		out = append(out, g)
	}
	return out
}

// GroupStacks renders goroutines goleak-style, grouped by top function
// (largest group first), with one example stack per group.
func GroupStacks(gs []Goroutine) string {
	type group struct {
		top     string
		count   int
		example Goroutine
	}
	byTop := map[string]*group{}
	var order []*group
	for _, g := range gs {
		k := g.Top
		if gr, ok := byTop[k]; ok {
			gr.count++
			continue
		}
		gr := &group{top: k, count: 1, example: g}
		byTop[k] = gr
		order = append(order, gr)
	}
	sort.SliceStable(order, func(i, j int) bool { return order[i].count > order[j].count })
	var b strings.Builder
	fmt.Fprintf(&b, "%d leaked goroutine(s) in %d group(s):\n", len(gs), len(order))
	for _, gr := range order {
		fmt.Fprintf(&b, "\n%d x %s [%s]", gr.count, gr.top, gr.example.State)
		if gr.example.CreatedBy != "" {
			fmt.Fprintf(&b, " created by %s", gr.example.CreatedBy)
		}
		fmt.Fprintf(&b, "\n%s\n", gr.example.Stack)
	}
	return b.String()
}

// SettleGoroutines settles the number of this process's goroutines
// started after base and not ignored, against opts.Budget (normally 0).
// On failure the result's Detail lists the leaked goroutines grouped by
// top function. opts.Metric defaults to "goroutines".
func SettleGoroutines(ctx context.Context, base GoroutineBaseline, ignore IgnoreFuncs, opts SettleOptions) (SettleResult, error) {
	if opts.Metric == "" {
		opts.Metric = "goroutines"
	}
	if opts.Detail == nil {
		opts.Detail = func() string { return GroupStacks(base.Leaked(ignore)) }
	}
	return Settle(ctx, func(context.Context) (float64, error) {
		return float64(len(base.Leaked(ignore))), nil
	}, opts)
}
