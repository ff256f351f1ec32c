package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/harness/faults"
)

const faultUsage = `usage:
  gitchaos fault list [TARGET] [--json]
      every proxy (host) with its state and toxics, and with admin URLs
      known (--testbed, --admin) every repo's server-side fault
  gitchaos fault add  [TARGET] --host H FAULT
      network fault on host H's proxy; FAULT is one of the catalog
      (gitchaos fault catalog), e.g. blackhole, offline,
      latency:latency=2s, stall:bytes=1024. A flap runs its schedule in
      this process: the command stays until Ctrl-C, then recovers it.
  gitchaos fault add  [TARGET] --host H --repo R MODE
      server-side fault on repo R of host H through its git server's admin
      API; MODE is http500, gone, auth, hang or slow, with optional
      parameters count=N (next N requests only) and, for slow,
      bytes_per_sec=N, e.g. slow:bytes_per_sec=2048,count=4
  gitchaos fault rm   [TARGET] --host H FAULT|all
  gitchaos fault rm   [TARGET] --host H --repo R
  gitchaos fault rm   [TARGET] --all
      undo one fault, every fault of a host, or every fault everywhere
  gitchaos fault catalog
      list the network faults with their syntax

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
		return faultCatalog(stdout)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, faultUsage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "gitchaos fault: unknown subcommand %q\n%s", args[0], faultUsage)
		return exitUsage
	}
}

func faultCatalog(stdout io.Writer) int {
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FAULT\tSYNTAX\tEFFECT")
	for _, in := range faults.Catalog() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", in.Name, in.Syntax, in.Doc)
	}
	fmt.Fprintln(tw, "\nREPO MODE\tSYNTAX\tEFFECT")
	for _, m := range repoModes {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", m.mode, m.syntax, m.doc)
	}
	tw.Flush()
	return exitOK
}

var repoModes = []struct {
	mode        gitserver.FaultMode
	syntax, doc string
}{
	{gitserver.FaultHTTP500, "http500[:count=N]", "git requests answer 500"},
	{gitserver.FaultGone, "gone[:count=N]", "404, as if the repo were deleted"},
	{gitserver.FaultAuth, "auth[:count=N]", "401 asking for credentials"},
	{gitserver.FaultHang, "hang[:count=N]", "requests block until the fault is cleared"},
	{gitserver.FaultSlow, "slow:bytes_per_sec=N[,count=N]", "upload-pack served at N bytes/s"},
}
