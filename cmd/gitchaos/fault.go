package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/gitchaos/gitchaos/harness/faults"
)

const faultUsage = `usage:
  gitchaos fault list [TARGET] [--json]
      every proxy (host) with its state and toxics, and with admin URLs
      known (--testbed, --admin) every repo's server-side fault
  gitchaos fault add  [TARGET] --host H FAULT
  gitchaos fault add  [TARGET] --host H --repo R FAULT
      FAULT is one of the catalog (gitchaos fault catalog), written
      NAME[:KEY=VALUE,...]. A network fault acts on host H's proxy, e.g.
      blackhole, offline, latency:latency=2s, stall:after=1024; a flap
      runs its schedule in this process: the command stays until Ctrl-C,
      then recovers it. A repo fault acts on repo R through host H's git
      server admin API, e.g. hang, http500:count=2, hang:op=git-upload-pack,
      slow:bytes_per_sec=2048,count=4
  gitchaos fault rm   [TARGET] --host H FAULT|all
  gitchaos fault rm   [TARGET] --host H --repo R
  gitchaos fault rm   [TARGET] --all
      undo one fault, every fault of a host, or every fault everywhere
  gitchaos fault catalog [FAULT...]
      list every fault, network and repo, with its syntax and effect; with
      names, those faults' parameters

TARGET (default: the docker-compose stack's toxiproxy at http://127.0.0.1:8474):
  --testbed FILE    the JSON printed by "gitchaos testbed up" (toxiproxy and
                    admin URLs); fixtures/docker/compose-testbed.json
                    describes the docker-compose stack
  --toxiproxy URL   toxiproxy API (also $GITCHAOS_TOXIPROXY)
  --admin H=URL     git server admin API of host H (repeatable)
`

// DefaultToxiproxyURL is the compose stack's toxiproxy API.
const DefaultToxiproxyURL = "http://127.0.0.1:8474"

func cmdFault(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, faultUsage)
		return exitUsage
	}
	switch args[0] {
	case "list", "ls":
		return faultList(ctx, args[1:], stdout, stderr)
	case "add":
		return faultAdd(ctx, args[1:], stdout, stderr)
	case "rm", "remove":
		return faultRm(ctx, args[1:], stdout, stderr)
	case "catalog":
		return faultCatalog(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, faultUsage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "gitchaos fault: unknown subcommand %q\n%s", args[0], faultUsage)
		return exitUsage
	}
}

// faultCatalog prints the catalog, or with names, those faults' params.
func faultCatalog(names []string, stdout, stderr io.Writer) int {
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	defer tw.Flush()
	if len(names) == 0 {
		fmt.Fprintln(tw, "FAULT\tKIND\tSYNTAX\tEFFECT")
		for _, in := range faults.Catalog() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", in.Name, in.Kind, in.Syntax, in.Doc)
		}
		return exitOK
	}
	for i, name := range names {
		in, ok := faults.Lookup(name)
		if !ok {
			fmt.Fprintf(stderr, "gitchaos fault catalog: unknown fault %q (known: %s)\n", name, strings.Join(faults.Names(), ", "))
			return exitUsage
		}
		if i > 0 {
			fmt.Fprintln(tw)
		}
		fmt.Fprintf(tw, "%s (%s fault): %s\n  %s\n  e.g. %s\n", in.Name, in.Kind, in.Doc, in.Syntax, in.Example)
		for _, p := range in.Params {
			req := ""
			if p.Required {
				req = " (required)"
			}
			fmt.Fprintf(tw, "  %s=%s\t%s%s\n", p.Key, p.Value, p.Doc, req)
		}
	}
	return exitOK
}
