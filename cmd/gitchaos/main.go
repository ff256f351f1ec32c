// Command gitchaos is the gitchaos CLI: gate, matrix, soak, replay, shrink, testbed, fault,
// report and checks. Exit codes: 0 all gates passed, 1 a gate failed, 2 usage or
// setup error.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/gitchaos/gitchaos/cmd/internal/gitservercmd"
	"github.com/gitchaos/gitchaos/cmd/internal/toxiproxycmd"
	"github.com/gitchaos/gitchaos/harness/fetcher"
	"github.com/gitchaos/gitchaos/harness/guard"
)

// Exit codes shared by every subcommand.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

type command struct {
	name string
	help string
	run  func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"gate", "run the gate suite and print the check table", cmdGate},
		{"matrix", "run the suite against the correct fetcher and every mutant", cmdMatrix},
		{"soak", "run a seeded random mix of steps and faults for a duration", cmdSoak},
		{"replay", "run one soak schedule (schedule.yaml, repro.yaml) and judge it", cmdReplay},
		{"shrink", "shrink a failing soak's schedule to a minimal reproducer", cmdShrink},
		{"testbed", "testbed up: start a testbed and print its description", cmdTestbed},
		{"fault", "fault add|rm|list on a running testbed or the compose stack", cmdFault},
		{"report", "re-render a saved report.json as html, markdown or junit", cmdReport},
		{"checks", "list every declared check: id, gate, title, unit, what it guards", cmdChecks},
		{"compare", "compare saved runs, base against head: per check fixed, broken, better, worse, same", cmdCompare},
		{"inspect", "print a forensic snapshot of a running process tree, or diff two saved ones", cmdInspect},
		{"gitserver", "serve bare git repos over smart HTTP (the git server image's entrypoint)", cmdGitServer},
		{"toxiproxy-server", "toxiproxy's server with gitchaos's toxics (the toxiproxy image's entrypoint)", cmdToxiproxy},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: gitchaos <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-16s %s\n", c.name, c.help)
	}
	fmt.Fprintln(w, "\nrun 'gitchaos <command> -h' for a command's flags")
}

func main() {
	// A re-executed copy of this binary may be an exec target's guard.
	guard.MaybeRun()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	args := os.Args[1:]
	// Multi-call: a link or copy named after a server command runs it.
	switch name := filepath.Base(os.Args[0]); name {
	case "gitserver", "toxiproxy-server":
		args = append([]string{name}, args...)
	}
	code := run(ctx, args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	if args[0] == "reffetcher" {
		// Hidden: this binary as the reference fetcher process, which the
		// crash-restart gate starts and SIGKILLs (same flags as cmd/reffetcher).
		return fetcher.RunCommand(ctx, args[1:], os.Getenv, stdout, stderr, nil)
	}
	if args[0] == "suite-part" {
		// Hidden: a part of a suite that another gitchaos process runs
		// beside its process-wide gates (beside.go).
		return cmdSuitePart(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "gitchaos: unknown command %q\n", args[0])
	usage(stderr)
	return exitUsage
}

// cmdGitServer is cmd/gitserver inside the multi-call binary: the docker
// testbed's git server image runs `/gitchaos gitserver ...`.
func cmdGitServer(ctx context.Context, args []string, _, stderr io.Writer) int {
	return gitservercmd.Run(ctx, args, stderr)
}

// cmdToxiproxy is cmd/toxiproxy-server inside the multi-call binary: the
// docker testbed's toxiproxy image runs `/gitchaos toxiproxy-server ...`.
func cmdToxiproxy(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return toxiproxycmd.Run(ctx, args, stdout, stderr)
}
