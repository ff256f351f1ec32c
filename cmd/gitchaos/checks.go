package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/gitchaos/gitchaos/internal/gates"
)

// cmdChecks lists every declared check: the suite's gates in order, the
// soak's, the runner's.
func cmdChecks(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("checks", flag.ContinueOnError)
	fs.SetOutput(stderr)
	jsonOut := fs.Bool("json", false, "print the checks as a JSON array (id, gate, title, unit, guards, when, metric)")
	gate := fs.String("gate", "", "only the checks of this gate (soak and runner included)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gitchaos checks [--json] [--gate NAME]\n\nLists every declared check: its id (what report.json, the mutant table\nand docs/opal/expected.yaml refer to), gate, title, unit and what it\nguards. A check recorded only in some runs says when.\n\nflags:")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	list := gates.Checks()
	if *gate != "" {
		list = gates.ChecksOf(*gate)
		if len(list) == 0 {
			fmt.Fprintf(stderr, "gitchaos checks: --gate %s: no such gate (gates: %v, soak, runner)\n", *gate, append(gates.Names(), gates.OptInNames()...))
			return exitUsage
		}
	}
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(list); err != nil {
			fmt.Fprintf(stderr, "gitchaos checks: %v\n", err)
			return exitFail
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTITLE\tUNIT\tGUARDS")
	for _, c := range list {
		guards := c.Guards
		if c.When != "" {
			guards += "; recorded " + c.When
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.ID, c.Title, orDash(c.Unit), guards)
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintf(stderr, "gitchaos checks: %v\n", err)
		return exitFail
	}
	return exitOK
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
