package gates

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/harness/faults"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/testbed"
)

// TestFaultStack: one Inject for both kinds, each recorded once on inject
// and once on recover, an undo that is idempotent, and recoverAll undoing
// what is left newest first.
func TestFaultStack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tb, err := testbed.NewLocal(ctx, testbed.Options{Hosts: 1, Repos: 1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	h := tb.Hosts()[0]
	var mu sync.Mutex
	var log []string
	fs := newFaultStack(func(host, repo, fault, action string) {
		mu.Lock()
		log = append(log, fmt.Sprintf("%s %s/%s %s", action, host, repo, fault))
		mu.Unlock()
	})

	undoNet, err := fs.Inject(ctx, h, "", fault("latency:latency=10ms"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Inject(ctx, h, "r000", fault("http500:count=1")); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Inject(ctx, h, "", fault("blackhole")); err != nil {
		t.Fatal(err)
	}
	if info, err := h.Admin.Repo(ctx, "r000"); err != nil || info.Fault == nil || info.Fault.Count != 1 {
		t.Fatalf("r000 after inject: %+v, %v; want an http500 count=1 fault", info, err)
	}
	for range 2 {
		if err := undoNet(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := h.Active(); !slices.Equal(got, []string{"blackhole"}) {
		t.Fatalf("active network faults after undoing latency: %v", got)
	}
	if err := fs.recoverAll(ctx); err != nil {
		t.Fatal(err)
	}
	if err := fs.recoverAll(ctx); err != nil {
		t.Fatal(err)
	}
	if info, err := h.Admin.Repo(ctx, "r000"); err != nil || info.Fault != nil || len(h.Active()) != 0 {
		t.Fatalf("after recoverAll: repo %+v, %v, network %v; want nothing left", info, err, h.Active())
	}
	want := []string{
		result.FaultInject + " h0/ latency", result.FaultInject + " h0/r000 server:http500", result.FaultInject + " h0/ blackhole",
		result.FaultRecover + " h0/ latency", result.FaultRecover + " h0/ blackhole", result.FaultRecover + " h0/r000 server:http500",
	}
	if !slices.Equal(log, want) {
		t.Errorf("recorded\n  %s\nwant\n  %s", strings.Join(log, "\n  "), strings.Join(want, "\n  "))
	}

	for _, c := range []struct{ repo, spec, want string }{
		{"r000", "blackhole", "a network fault acts on the whole host"},
		{"", "hang", "want a repo"},
	} {
		if _, err := fs.Inject(ctx, h, c.repo, fault(c.spec)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Inject(%q, %s): %v, want %q", c.repo, c.spec, err, c.want)
		}
	}
}

// TestBuiltinFaultSpecsParse: every fault("...") with a literal spec in the
// gates and the soak is a catalog fault (fault panics at run time on one
// that is not, minutes into a gate run).
func TestBuiltinFaultSpecsParse(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, name := range files {
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(node ast.Node) bool {
			call, ok := node.(*ast.CallExpr)
			if !ok || len(call.Args) != 1 {
				return true
			}
			if id, ok := call.Fun.(*ast.Ident); !ok || id.Name != "fault" {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			spec, err := strconv.Unquote(lit.Value)
			if err == nil {
				_, err = faults.ParseSpec(spec)
			}
			if err != nil {
				t.Errorf("%s: fault(%s): %v", name, lit.Value, err)
			}
			n++
			return true
		})
	}
	if n < 10 {
		t.Errorf("found %d literal fault specs, want the gates' (at least 10)", n)
	}
}
