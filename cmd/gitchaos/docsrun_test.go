package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/shlex"
)

// docPlaceholders are the stand-ins the docs use for a user's own server:
// a documented command that fails on one of them is reported, not failed.
var docPlaceholders = []string{"./bin/my-server", "./myserver", "bin/reffetcher", "/srv/data"}

// TestDocsCommandsRun runs the documented commands, from the repo root as
// the docs do: every gate, matrix and soak command with --dry-run (its
// flags, suite file and target checked, nothing started) and every fault
// catalog as it is. A command whose only fault is a placeholder for the
// user's own server is logged; any other failure fails the test.
func TestDocsCommandsRun(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range docFiles(t) {
		abs, err := filepath.Abs(f)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, abs)
	}
	t.Chdir(root)
	ran, placeholders := 0, 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		cmds, lines := fencedCommands(string(b))
		for i, c := range cmds {
			c = cmdEnd.ReplaceAllString(c, "")
			if strings.ContainsAny(c, "$<…") || strings.Contains(c, "...") {
				continue // a shell variable, a <placeholder> or an elided argument list
			}
			args, err := shlex.Split(c)
			if err != nil || len(args) == 0 || slices.Contains(args, "/") {
				continue // prose or a diagram that mentions gitchaos, not a command
			}
			switch {
			case args[0] == "gate" || args[0] == "matrix" || args[0] == "soak" || args[0] == "replay" || args[0] == "shrink":
				args = append(args, "--dry-run")
			case len(args) > 1 && args[0] == "fault" && args[1] == "catalog":
			default:
				continue // needs a running testbed or a report on disk
			}
			var out, errb bytes.Buffer
			code := run(context.Background(), args, &out, &errb)
			ran++
			if code == 0 {
				continue
			}
			if p := placeholderIn(errb.String()); p != "" {
				placeholders++
				t.Logf("%s:%d: gitchaos %s: exit %d on the placeholder %s (the user's own server)", rel, lines[i], strings.Join(args, " "), code, p)
				continue
			}
			t.Errorf("%s:%d: gitchaos %s: exit %d\nstdout: %s\nstderr: %s", rel, lines[i], strings.Join(args, " "), code, out.String(), errb.String())
		}
	}
	if ran-placeholders < 15 {
		t.Fatalf("ran %d documented commands, %d of them on placeholders; the pages hold more: the extraction is broken", ran, placeholders)
	}
	t.Logf("ran %d documented commands (%d stopped at a placeholder)", ran, placeholders)
}

func placeholderIn(stderr string) string {
	for _, p := range docPlaceholders {
		if strings.Contains(stderr, p) {
			return p
		}
	}
	return ""
}
