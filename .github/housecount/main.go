// Command housecount prints the counts that issue 23 (a house where a
// metric, a check or a fault is one row) is measured by, for the tree it
// runs in:
//
//   - exported names per package in non-test code: functions, types,
//     vars, consts, and exported methods (struct fields apart);
//   - check titles written as string literals in non-test Go code outside
//     a check declaration, given the titles on stdin (one per line, e.g.
//     from `gitchaos checks --json | jq -r '.[].title'`). A literal is a
//     declaration when the call or composite literal it sits in also
//     holds a check id ("gate.slug").
//
// Run from a module root: `go run ./.github/housecount < titles.txt`.
// The directory starts with a dot, so ./... never builds or vets it.
package main

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

var idRE = regexp.MustCompile(`^[a-z][a-z-]*\.[a-z0-9][a-z0-9-]*$`)

func main() {
	titles := map[string]bool{}
	if fi, _ := os.Stdin.Stat(); fi != nil && fi.Mode()&os.ModeCharDevice == 0 {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			if t := strings.TrimSpace(sc.Text()); t != "" {
				titles[t] = true
			}
		}
	}
	exported := map[string]int{}
	literals := map[string]int{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			n := d.Name()
			if path != "." && (strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_") || n == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return fmt.Errorf("parse %s: %w", path, err)
		}
		dir := filepath.Dir(path)
		exported[dir] += countExported(f)
		if len(titles) > 0 {
			literals[dir] += countTitles(f, titles)
		}
		return nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "housecount:", err)
		os.Exit(1)
	}
	dirs := make([]string, 0, len(exported))
	for d := range exported {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	total, totalLit := 0, 0
	fmt.Printf("%-40s %8s %8s\n", "package dir", "exported", "titles")
	for _, d := range dirs {
		fmt.Printf("%-40s %8d %8d\n", d, exported[d], literals[d])
		total += exported[d]
		totalLit += literals[d]
	}
	fmt.Printf("%-40s %8d %8d\n", "total", total, totalLit)
}

func countExported(f *ast.File) int {
	n := 0
	for _, decl := range f.Decls {
		switch d := decl.(type) {
		case *ast.FuncDecl:
			if !d.Name.IsExported() {
				continue
			}
			if d.Recv != nil && !recvExported(d.Recv) {
				continue
			}
			n++
		case *ast.GenDecl:
			for _, sp := range d.Specs {
				switch s := sp.(type) {
				case *ast.TypeSpec:
					if s.Name.IsExported() {
						n++
					}
				case *ast.ValueSpec:
					for _, id := range s.Names {
						if id.IsExported() {
							n++
						}
					}
				}
			}
		}
	}
	return n
}

func recvExported(fl *ast.FieldList) bool {
	if len(fl.List) == 0 {
		return false
	}
	t := fl.List[0].Type
	for {
		switch x := t.(type) {
		case *ast.StarExpr:
			t = x.X
		case *ast.IndexExpr:
			t = x.X
		case *ast.IndexListExpr:
			t = x.X
		case *ast.Ident:
			return x.IsExported()
		default:
			return false
		}
	}
}

// countTitles counts string literals equal to a title, except those in a
// call or composite literal that also holds a check id literal.
func countTitles(f *ast.File, titles map[string]bool) int {
	n := 0
	var stack []ast.Node
	ast.Inspect(f, func(node ast.Node) bool {
		if node == nil {
			stack = stack[:len(stack)-1]
			return true
		}
		stack = append(stack, node)
		lit, ok := node.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		v, err := strconv.Unquote(lit.Value)
		if err != nil || !titles[v] {
			return true
		}
		if !declared(stack) {
			n++
		}
		return true
	})
	return n
}

func declared(stack []ast.Node) bool {
	for i := len(stack) - 2; i >= 0 && i >= len(stack)-4; i-- {
		var elts []ast.Expr
		switch x := stack[i].(type) {
		case *ast.CallExpr:
			if id, ok := x.Fun.(*ast.Ident); ok && strings.HasPrefix(id.Name, "declare") {
				return true // internal/gates' declare, declarePerMetric
			}
			elts = x.Args
		case *ast.CompositeLit:
			elts = x.Elts
		default:
			continue
		}
		for _, e := range elts {
			if kv, ok := e.(*ast.KeyValueExpr); ok {
				e = kv.Value
			}
			if l, ok := e.(*ast.BasicLit); ok && l.Kind == token.STRING {
				if v, err := strconv.Unquote(l.Value); err == nil && idRE.MatchString(v) {
					return true
				}
			}
		}
	}
	return false
}
