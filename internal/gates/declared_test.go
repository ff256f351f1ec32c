package gates

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/gitchaos/gitchaos/harness/fetcher"
	"github.com/gitchaos/gitchaos/harness/result"
)

// testGates are gates declared by this package's tests (ready_test.go).
var testGates = []string{"ready-asks-again"}

// moduleRoot is the repository root, from this package's directory.
const moduleRoot = "../.."

// TestDeclaredChecksReferences: every reference to a check by ID, outside
// the declarations, names a declared check: the mutant table's must-fail
// refs, the pyopal cases' constants, docs/opal/expected.yaml, IDs in Go
// string literals of the tests and commands, and `gate.slug` IDs in the
// docs. A renamed or misspelt ID fails here, in seconds, instead of in the
// matrix or TestRealOPAL.
func TestDeclaredChecksReferences(t *testing.T) {
	known := func(where, id string) {
		t.Helper()
		if _, ok := LookupCheck(id); !ok {
			t.Errorf("%s: check %q is not declared (gitchaos checks lists the ids)%s", where, id, nearest(id))
		}
	}
	for _, m := range fetcher.Mutants() {
		for _, ref := range m.MustFail {
			known("harness/fetcher/mutants.go: mutant "+m.Name, ref.ID)
			if c, ok := LookupCheck(ref.ID); ok && c.Gate != ref.Gate {
				t.Errorf("mutant %s: check %s is gate %s's, the ref says gate %s", m.Name, ref.ID, c.Gate, ref.Gate)
			}
		}
		// A check the bug also moves is one of the gates its row runs
		// (a comparison sees no other) and not one it must fail.
		for _, mv := range m.Moves() {
			known("harness/fetcher/mutants_moves.go: mutant "+m.Name, mv.Check.ID)
			switch {
			case !slices.Contains(m.Gates(), mv.Check.Gate):
				t.Errorf("mutant %s moves %s, of gate %s, which its row does not run (%v)", m.Name, mv.Check.ID, mv.Check.Gate, m.Gates())
			case slices.Contains(m.MustFail, mv.Check):
				t.Errorf("mutant %s moves %s, which it must fail already", m.Name, mv.Check.ID)
			case mv.Why == "":
				t.Errorf("mutant %s moves %s without saying why", m.Name, mv.Check.ID)
			}
		}
	}

	pyopal := filepath.Join(moduleRoot, "scenarios", "pyopal_test.go")
	consts := chkConsts(t, pyopal)
	if len(consts) == 0 {
		t.Errorf("%s: no chk* constants found (the cases' check ids)", pyopal)
	}
	for name, id := range consts {
		known(pyopal+": "+name, id)
	}

	var ev struct {
		Checks []struct {
			Check string `yaml:"check"`
		} `yaml:"checks"`
	}
	expected := filepath.Join(moduleRoot, "docs", "opal", "expected.yaml")
	b, err := os.ReadFile(expected)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &ev); err != nil {
		t.Fatalf("%s: %v", expected, err)
	}
	for _, c := range ev.Checks {
		known(expected, c.Check)
	}

	// IDs written as string literals in Go code, and as `gate.slug` in the
	// docs. A literal is taken for an ID when it starts with a gate name and
	// a dot and is not a file name.
	for _, dir := range []string{"internal/gates", "scenarios", "cmd/gitchaos", "harness/fetcher", "reports"} {
		for _, lit := range idLiterals(t, filepath.Join(moduleRoot, dir)) {
			known(lit.where, lit.id)
		}
	}
	docs, _ := filepath.Glob(filepath.Join(moduleRoot, "docs", "*.md"))
	own, _ := filepath.Glob("*.go") // the package doc's recipes, comments
	docs = append(append(docs, filepath.Join(moduleRoot, "README.md")), own...)
	docID := regexp.MustCompile("`(" + gatePrefixes() + `)\.([a-z0-9][a-z0-9-]*)` + "`")
	for _, p := range docs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			for _, m := range docID.FindAllStringSubmatch(line, -1) {
				if id := m[1] + "." + m[2]; !fileExt[m[2]] {
					known(p+":"+strconv.Itoa(i+1), id)
				}
			}
		}
	}
}

// TestDeclaredChecksEmitted: every check declared in the package's
// non-test code is used in a recording call (s.rec.LE/GE/EQ/True/Skip/
// Error/Add, directly as an argument: bootFirstHealthy,
// timeoutBaseline.of(m)), and every per-metric family is used outside its
// declaration (the leak judge records it); every declared check belongs
// to a gate of the suite, the soak or the runner. The matrix's correct row
// checks at run time that what a gate declares as always recorded came
// out (Unrecorded).
func TestDeclaredChecksEmitted(t *testing.T) {
	files, _ := parseGo(t, ".", false)
	decls := map[string]string{} // var name -> declaring function
	recorded := map[string]bool{}
	used := map[string]bool{}
	for _, f := range files {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if i < len(vs.Values) {
						if fn := declaringCall(vs.Values[i]); fn != "" {
							decls[name.Name] = fn
						}
					}
				}
			}
		}
	}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ValueSpec:
				// a declaration's own name is not a use; its value may use others
				for _, v := range n.Values {
					ast.Inspect(v, func(m ast.Node) bool {
						if id, ok := m.(*ast.Ident); ok {
							used[id.Name] = true
						}
						return true
					})
				}
				return false
			case *ast.CallExpr:
				if isRecordingCall(n) {
					for _, a := range n.Args {
						ast.Inspect(a, func(m ast.Node) bool {
							if id, ok := m.(*ast.Ident); ok {
								recorded[id.Name] = true
							}
							return true
						})
					}
				}
			case *ast.Ident:
				used[n.Name] = true
			}
			return true
		})
	}
	if len(decls) < 30 {
		t.Fatalf("found %d check declarations in the package's code; the parser missed them", len(decls))
	}
	for name, fn := range decls {
		switch {
		case name == "runnerNoCheck":
			// recorded by result.Scenario.Strict, which cannot import gates
			if runnerNoCheck.ID != result.StrictNoCheckID || runnerNoCheck.Title != result.StrictNoCheckTitle {
				t.Errorf("runnerNoCheck is %s %q; result.Strict records %s %q", runnerNoCheck.ID, runnerNoCheck.Title, result.StrictNoCheckID, result.StrictNoCheckTitle)
			}
		case fn == "declare" && !recorded[name]:
			t.Errorf("check %s is declared but no recording call (s.rec.LE, ...) takes it: its gate never emits it", name)
		case fn != "declare" && !used[name]:
			t.Errorf("check family %s is declared but never used: its gate never emits it", name)
		}
	}
	gatesOK := append(append(append(Names(), OptInNames()...), "soak", "runner"), testGates...)
	for _, c := range declared {
		if !slices.Contains(gatesOK, c.Gate) {
			t.Errorf("check %s: gate %q is not a gate of the suite, the soak or the runner", c.ID, c.Gate)
		}
	}
	for _, g := range Names() {
		if len(ChecksOf(g)) == 0 {
			t.Errorf("gate %s declares no check", g)
		}
	}
}

// TestRecorderRefusesUndeclared: a check that is not declared, or is
// another gate's, panics under go test (an error check otherwise).
func TestRecorderRefusesUndeclared(t *testing.T) {
	res := &result.Scenario{Name: "churn"}
	r := newRecorder("churn", res.Started, res)
	r.LE(churnCachesDrain, 0, 0, "ok")
	r.Skip(runnerTargetUp, "the runner's checks are any gate's")
	for _, c := range []*Check{{ID: "churn." + "made-up", Gate: "churn", Title: "made up"}, bootFirstHealthy, nil} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("recording %v in churn: no panic", c)
				}
			}()
			r.True(c, true, "", "", "")
		}()
	}
	if len(res.Checks) != 2 || res.Checks[0].ID != "churn.caches-drain" || res.Checks[0].Name != "caches drain to zero after delete" || res.Checks[0].Unit != unitCount {
		t.Errorf("checks recorded: %+v", res.Checks)
	}
}

// TestUnrecorded: a passing scenario lacking an always-recorded check
// names it; one with a failed check, or an error, is not judged.
func TestUnrecorded(t *testing.T) {
	res := &result.Scenario{Name: "crash-restart", Checks: []result.Check{{ID: crashAllServe.ID, Verdict: result.Pass}, {ID: crashContent.ID, Verdict: result.Pass},
		{ID: crashRefreshAfter.ID, Verdict: result.Pass}, {ID: crashNewScopeAfter.ID, Verdict: result.Pass}}}
	if got := Unrecorded(res); len(got) != 1 || got[0] != crashNoCorrupt {
		t.Errorf("Unrecorded = %v, want [%s]", got, crashNoCorrupt)
	}
	res.Checks[0].Verdict = result.Fail
	if got := Unrecorded(res); got != nil {
		t.Errorf("with a failed check: Unrecorded = %v, want none", got)
	}
	res.Checks[0].Verdict, res.Error = result.Pass, "boom"
	if got := Unrecorded(res); got != nil {
		t.Errorf("with an error: Unrecorded = %v, want none", got)
	}
}

// declaringCall names the declaring function a package-level var's value
// calls (declare, declarePerMetric; through .sometimes), or "".
func declaringCall(e ast.Expr) string {
	for {
		call, ok := e.(*ast.CallExpr)
		if !ok {
			return ""
		}
		switch fn := call.Fun.(type) {
		case *ast.Ident:
			if fn.Name == "declare" || fn.Name == "declarePerMetric" {
				return fn.Name
			}
			return ""
		case *ast.SelectorExpr:
			if fn.Sel.Name != "sometimes" {
				return ""
			}
			e = fn.X
		default:
			return ""
		}
	}
}

// isRecordingCall: x.rec.M(...) or rec.M(...) with M a recorder method
// that records a check.
func isRecordingCall(call *ast.CallExpr) bool {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	switch sel.Sel.Name {
	case "LE", "GE", "EQ", "True", "Skip", "Error", "Add":
	default:
		return false
	}
	switch x := sel.X.(type) {
	case *ast.SelectorExpr:
		return x.Sel.Name == "rec"
	case *ast.Ident:
		return x.Name == "rec"
	}
	return false
}

// chkConsts are the string constants named chk* of a Go file.
func chkConsts(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if strings.HasPrefix(n.Name, "chk") && i < len(vs.Values) {
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						s, _ := strconv.Unquote(lit.Value)
						out[n.Name] = s
					}
				}
			}
		}
	}
	return out
}

// idLit is a string literal that reads as a check ID.
type idLit struct{ where, id string }

// fileExt are slugs that make a "gate.slug" a file name, not an ID.
var fileExt = map[string]bool{"go": true, "md": true, "json": true, "yaml": true, "yml": true, "html": true, "xml": true, "txt": true, "png": true, "log": true, "py": true}

func gatePrefixes() string {
	names := append(append(Names(), "soak", "runner"), testGates...)
	for i, n := range names {
		names[i] = regexp.QuoteMeta(n)
	}
	return strings.Join(names, "|")
}

// idLiterals are the string literals of dir's Go files (tests included)
// that are a gate name, a dot and a slug.
func idLiterals(t *testing.T, dir string) []idLit {
	t.Helper()
	re := regexp.MustCompile(`^(` + gatePrefixes() + `)\.([a-z0-9][a-z0-9-]*)$`)
	var out []idLit
	files, fset := parseGo(t, dir, true)
	for _, f := range files {
		// A test that hands an undeclared ID on purpose (to see it refused)
		// says so on its line: // undeclared on purpose
		purpose := map[int]bool{}
		for _, cg := range f.Comments {
			for _, c := range cg.List {
				if strings.Contains(c.Text, "undeclared on purpose") {
					purpose[fset.Position(c.Pos()).Line] = true
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			if m := re.FindStringSubmatch(s); m != nil && !fileExt[m[2]] && !purpose[fset.Position(lit.Pos()).Line] {
				out = append(out, idLit{where: fset.Position(lit.Pos()).String(), id: s})
			}
			return true
		})
	}
	return out
}

// parseGo parses dir's Go files, its tests too when tests is set.
func parseGo(t *testing.T, dir string, tests bool) ([]*ast.File, *token.FileSet) {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var out []*ast.File
	for _, p := range paths {
		if !tests && strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	return out, fset
}

// nearest suggests the declared ID closest to id (same gate, most shared
// words), for the error message.
func nearest(id string) string {
	gate, slug, _ := strings.Cut(id, ".")
	best, score := "", 0
	for _, c := range declared {
		g, s, _ := strings.Cut(c.ID, ".")
		if g != gate {
			continue
		}
		n := 0
		for _, w := range strings.Split(slug, "-") {
			if slices.Contains(strings.Split(s, "-"), w) {
				n++
			}
		}
		if n > score {
			best, score = c.ID, n
		}
	}
	if best == "" {
		return ""
	}
	return "; did you mean " + best + "?"
}

// TestChecksDocumented: docs/gates.md's "Checks by ID" table has a row for
// every declared check, with its title.
func TestChecksDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(moduleRoot, "docs", "gates.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, c := range declared {
		if slices.Contains(testGates, c.Gate) {
			continue
		}
		row := "| `" + c.ID + "` | " + strings.ReplaceAll(c.Title, "|", `\|`) + " |"
		if !strings.Contains(doc, row) {
			t.Errorf("docs/gates.md has no row %q (gitchaos checks prints it)", row)
		}
	}
}
