package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/reports"
)

const reportUsage = `usage: gitchaos report REPORT.json [--html FILE] [--md FILE] [--junit FILE] [--json FILE]
       gitchaos report merge A/report.json B/report.json ... --out DIR   (joins shards; see 'report merge -h')

Re-renders a saved run (the report.json that 'gitchaos gate --out DIR' or
'gitchaos soak --out DIR' wrote) in other formats. Give at least one
output; FILE "-" writes that one to standard output.

  --html FILE    self-contained HTML page with charts (no network needed)
  --md FILE      Markdown summary for a PR comment or CI step summary
  --junit FILE   JUnit XML, one testcase per check
  --json FILE    the run itself, re-encoded

Exit status: 0 the saved run passed, 1 it failed (a check failed or
errored, or a scenario errored), 2 usage error, unreadable input or a
file that could not be written.
`

// cmdReport re-renders a saved report.json.
func cmdReport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "merge" {
		return cmdReportMerge(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var out struct{ html, md, junit, json string }
	fs.StringVar(&out.html, "html", "", "write the HTML report to `FILE`")
	fs.StringVar(&out.md, "md", "", "write the Markdown summary to `FILE`")
	fs.StringVar(&out.junit, "junit", "", "write JUnit XML to `FILE`")
	fs.StringVar(&out.json, "json", "", "write the run as JSON to `FILE`")
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "gitchaos report: "+format+"\n", a...)
		fmt.Fprint(stderr, "\n"+reportUsage)
		return exitUsage
	}

	// Flags may come before or after the input file.
	inputs, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, reportUsage)
		return exitOK
	}
	if err != nil {
		return fail("%v", err)
	}
	switch len(inputs) {
	case 0:
		return fail("missing the report.json to render")
	case 1:
	default:
		return fail("one report.json at a time, got %d: %s", len(inputs), strings.Join(inputs, " "))
	}
	type output struct {
		flag, path string
		write      func(io.Writer, *result.Run) error
	}
	var outputs []output
	toStdout := 0
	for _, o := range []output{
		{"--html", out.html, reports.WriteHTML},
		{"--md", out.md, reports.WriteMarkdown},
		{"--junit", out.junit, reports.WriteJUnit},
		{"--json", out.json, reports.WriteJSON},
	} {
		if o.path == "" {
			continue
		}
		if o.path == "-" {
			toStdout++
		}
		outputs = append(outputs, o)
	}
	if len(outputs) == 0 {
		return fail("nothing to write: give --html, --md, --junit or --json")
	}
	if toStdout > 1 {
		return fail("only one output can go to standard output (-)")
	}
	if err := ctx.Err(); err != nil {
		fmt.Fprintf(stderr, "gitchaos report: %v\n", err)
		return exitUsage
	}

	run, err := result.Load(inputs[0])
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos report: %v\n", err)
		return exitUsage
	}
	if len(run.Scenarios) == 0 && run.ID == "" {
		fmt.Fprintf(stderr, "gitchaos report: %s holds no run (no id, no scenarios); is it a gitchaos report.json?\n", inputs[0])
		return exitUsage
	}
	code := exitOK
	for _, o := range outputs {
		if o.path == "-" {
			err = o.write(stdout, run)
		} else {
			err = reports.WriteFile(o.path, run, o.write)
		}
		if err != nil {
			fmt.Fprintf(stderr, "gitchaos report: %s: %v\n", o.flag, err)
			code = exitUsage
			continue
		}
		if o.path != "-" {
			fmt.Fprintf(stderr, "gitchaos report: wrote %s\n", o.path)
		}
	}
	if code != exitOK {
		return code
	}
	v := run.Verdict()
	fmt.Fprintf(stderr, "gitchaos report: %s %s: %s\n", orRun(run.Kind), run.ID, strings.ToUpper(string(v)))
	if v == result.Fail || v == result.Error {
		return exitFail
	}
	return exitOK
}

func orRun(kind string) string {
	if kind == "" {
		return "run"
	}
	return kind
}

// parseInterspersed parses fs from args with flags before, between or
// after the positional arguments, which it returns in order.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
}
