package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// docFiles are the pages a user reads: the README, docs/ and BENCHMARKS.md.
func docFiles(t *testing.T) []string {
	t.Helper()
	root := filepath.Join("..", "..")
	files := []string{filepath.Join(root, "README.md"), filepath.Join(root, "BENCHMARKS.md")}
	more, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(more) < 5 {
		t.Fatalf("docs/*.md: %d pages, want the README's pages", len(more))
	}
	return append(files, more...)
}

// fencedCommands returns every gitchaos invocation in the fenced code
// blocks of a Markdown text, continuation lines joined, with its line.
func fencedCommands(text string) (cmds []string, lines []int) {
	var in bool
	var cur strings.Builder
	start := 0
	for i, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			in = !in
			cur.Reset()
			continue
		}
		if !in {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		cur.WriteString(strings.TrimSuffix(l, "\\"))
		cur.WriteByte(' ')
		if strings.HasSuffix(l, "\\") {
			continue
		}
		s := cur.String()
		cur.Reset()
		if k := strings.Index(s, "gitchaos "); k >= 0 && !strings.HasPrefix(strings.TrimSpace(s), "#") && !strings.HasPrefix(strings.TrimSpace(s), "//") {
			cmds = append(cmds, s[k+len("gitchaos "):])
			lines = append(lines, start)
		}
	}
	return cmds, lines
}

var (
	quoted   = regexp.MustCompile(`'[^']*'|"[^"]*"|\$\([^)]*\)`)
	cmdEnd   = regexp.MustCompile(`\s(\||&&|;|#|>|2>)\s.*$|\)\s*$`)
	flagWord = regexp.MustCompile(`^--?([a-z][a-z0-9-]*)`)
	word     = regexp.MustCompile(`^[a-z]+$`)
)

// TestDocsCommandsUseRealFlags: every `gitchaos <command> --flag` in a
// fenced block of the README, docs/ and BENCHMARKS.md names a command and
// flags that the CLI's own help lists, so the docs cannot drift from the
// CLI. The commands are parsed, not run (most take minutes).
func TestDocsCommandsUseRealFlags(t *testing.T) {
	known := map[string]bool{}
	for _, c := range commands() {
		known[c.name] = true
	}
	helps := map[string]string{}
	help := func(args []string) string {
		k := strings.Join(args, " ")
		if h, ok := helps[k]; ok {
			return h
		}
		var out, errb bytes.Buffer
		run(context.Background(), append(slices.Clone(args), "-h"), &out, &errb)
		helps[k] = out.String() + errb.String()
		return helps[k]
	}
	checked := 0
	for _, f := range docFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cmds, lines := fencedCommands(string(b))
		for i, c := range cmds {
			c = cmdEnd.ReplaceAllString(quoted.ReplaceAllString(c, "X"), "")
			words := strings.Fields(c)
			if len(words) == 0 || !known[words[0]] {
				if len(words) > 0 && word.MatchString(words[0]) && !strings.Contains(c, "=") {
					t.Errorf("%s:%d: gitchaos %s: no such command", f, lines[i], words[0])
				}
				continue
			}
			sub := words[:1]
			if len(words) > 1 && (words[0] == "fault" || words[0] == "testbed" || words[0] == "report") && word.MatchString(words[1]) {
				sub = words[:2]
			}
			h := help(sub)
			for _, w := range words[len(sub):] {
				m := flagWord.FindStringSubmatch(w)
				if m == nil {
					continue
				}
				re := regexp.MustCompile(`(^|[\s\[(|,'"])--?` + regexp.QuoteMeta(m[1]) + `\b`)
				if !re.MatchString(h) {
					t.Errorf("%s:%d: gitchaos %s: flag %s is not in 'gitchaos %s -h'", f, lines[i], strings.Join(sub, " "), w, strings.Join(sub, " "))
				}
			}
			checked++
		}
	}
	if checked < 20 {
		t.Fatalf("checked %d gitchaos commands in the docs; the pages hold more: the extraction is broken", checked)
	}
	t.Logf("checked %d gitchaos commands", checked)
}

var (
	mdLink    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	notInSlug = regexp.MustCompile(`[^\p{L}\p{N}_\- ]`)
)

// TestDocsLinksResolve: every relative link of the README, docs/ and
// BENCHMARKS.md names a file that exists and, with #anchor, a heading of it.
func TestDocsLinksResolve(t *testing.T) {
	anchors := map[string]map[string]bool{}
	anchorsOf := func(path string) map[string]bool {
		if a, ok := anchors[path]; ok {
			return a
		}
		a := map[string]bool{}
		b, _ := os.ReadFile(path)
		in := false
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "```") {
				in = !in
			}
			if in || !strings.HasPrefix(l, "#") {
				continue
			}
			h := strings.ToLower(strings.TrimSpace(strings.TrimLeft(l, "#")))
			h = notInSlug.ReplaceAllString(h, "")
			a[strings.ReplaceAll(h, " ", "-")] = true
		}
		anchors[path] = a
		return a
	}
	n := 0
	for _, f := range docFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mdLink.FindAllStringSubmatch(string(b), -1) {
			link := m[1]
			if strings.Contains(link, "://") || strings.HasPrefix(link, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(link, "#")
			path := f
			if file != "" {
				path = filepath.Join(filepath.Dir(f), file)
				if _, err := os.Stat(path); err != nil {
					t.Errorf("%s: link %s: %v", f, link, err)
					continue
				}
			}
			if anchor != "" && strings.HasSuffix(path, ".md") && !anchorsOf(path)[anchor] {
				t.Errorf("%s: link %s: no heading #%s in %s", f, link, anchor, path)
			}
			n++
		}
	}
	if n < 10 {
		t.Fatalf("%d relative links found; the pages hold more: the extraction is broken", n)
	}
}
