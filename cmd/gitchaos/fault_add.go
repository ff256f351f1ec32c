package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/gitchaos/gitchaos/harness/faults"
)

func faultAdd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := newFaultFlags("add", stderr)
	if ok, code := f.parse(args); !ok {
		return code
	}
	if f.host == "" || len(f.posArgs) != 1 {
		fmt.Fprintf(stderr, "gitchaos fault add: want --host H and exactly one FAULT (got %d arguments)\n%s", len(f.posArgs), faultUsage)
		return exitUsage
	}
	t, err := f.target()
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos fault add: %v\n", err)
		return exitUsage
	}
	sp, err := faults.ParseSpec(f.posArgs[0])
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos fault add: %v\n", err)
		return exitUsage
	}
	switch sp := sp.(type) {
	case faults.RepoFault:
		if f.repo == "" {
			fmt.Fprintf(stderr, "gitchaos fault add: %s is a repo fault: give the repo with --repo R\n", sp.Name())
			return exitUsage
		}
		return addRepoFault(ctx, t, f, sp, stdout, stderr)
	case faults.Fault:
		if f.repo != "" {
			fmt.Fprintf(stderr, "gitchaos fault add: %s is a network fault: it acts on the whole host, drop --repo %s\n", sp.Name(), f.repo)
			return exitUsage
		}
		return addNetworkFault(ctx, t, f, sp, stdout, stderr)
	case faults.DiskFault:
		fmt.Fprintf(stderr, "gitchaos fault add: %s is a disk fault: it acts on a target's base dir, not on a host (the disk-full gate applies it: gitchaos gate --only disk-full)\n", sp.Name())
		return exitUsage
	}
	fmt.Fprintf(stderr, "gitchaos fault add: %s: a %T is neither a network nor a repo fault\n", sp.Name(), sp)
	return exitFail
}

// addRepoFault sets rf on --repo through --host's git server admin API.
func addRepoFault(ctx context.Context, t faultTarget, f *faultFlags, rf faults.RepoFault, stdout, stderr io.Writer) int {
	admin, err := t.admin(f.host)
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos fault add: %v\n", err)
		return exitUsage
	}
	if err := admin.SetFault(ctx, f.repo, rf.Fault); err != nil {
		fmt.Fprintf(stderr, "gitchaos fault add: %s/%s: %v\n", f.host, f.repo, err)
		return exitFail
	}
	fmt.Fprintf(stdout, "%s/%s: %s\n", f.host, f.repo, f.posArgs[0])
	return exitOK
}

// addNetworkFault injects nf on --host's proxy; a flap's schedule runs in
// this process until ctx ends, then it is recovered.
func addNetworkFault(ctx context.Context, t faultTarget, f *faultFlags, nf faults.Fault, stdout, stderr io.Writer) int {
	p, err := t.proxy(f.host)
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos fault add: %v\n", err)
		return exitFail
	}
	if err := nf.Inject(ctx, p); err != nil {
		fmt.Fprintf(stderr, "gitchaos fault add: %s: %v\n", f.host, err)
		return exitFail
	}
	fmt.Fprintf(stdout, "%s: %s\n", f.host, f.posArgs[0])
	if nf.Name() != "flap" {
		return exitOK
	}
	// A flap's schedule runs in this process: keep it until interrupted.
	fmt.Fprintf(stderr, "gitchaos fault add: %s flapping; Ctrl-C to stop and recover\n", f.host)
	<-ctx.Done()
	rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := nf.Recover(rctx, p); err != nil {
		fmt.Fprintf(stderr, "gitchaos fault add: recover flap on %s: %v\n", f.host, err)
		return exitFail
	}
	fmt.Fprintf(stdout, "%s: recovered\n", f.host)
	return exitOK
}
