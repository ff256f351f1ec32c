package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/harness/faults"
)

func faultRm(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := newFaultFlags("rm", stderr)
	if ok, code := f.parse(args); !ok {
		return code
	}
	t, err := f.target()
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos fault rm: %v\n", err)
		return exitUsage
	}
	switch {
	case f.all:
		if f.host != "" || f.repo != "" || len(f.posArgs) > 0 {
			fmt.Fprintf(stderr, "gitchaos fault rm: --all takes no --host, --repo or FAULT\n")
			return exitUsage
		}
		return faultRmAll(ctx, t, stdout, stderr)
	case f.host == "":
		fmt.Fprintf(stderr, "gitchaos fault rm: want --host H (or --all)\n%s", faultUsage)
		return exitUsage
	case f.repo != "":
		if len(f.posArgs) > 0 {
			fmt.Fprintf(stderr, "gitchaos fault rm: --repo clears the repo's fault and takes no FAULT (got %q)\n", f.posArgs)
			return exitUsage
		}
		admin, err := t.admin(f.host)
		if err != nil {
			fmt.Fprintf(stderr, "gitchaos fault rm: %v\n", err)
			return exitUsage
		}
		if err := admin.ClearFault(ctx, f.repo); err != nil {
			fmt.Fprintf(stderr, "gitchaos fault rm: %s/%s: %v\n", f.host, f.repo, err)
			return exitFail
		}
		fmt.Fprintf(stdout, "%s/%s: cleared\n", f.host, f.repo)
		return exitOK
	}
	if len(f.posArgs) != 1 {
		fmt.Fprintf(stderr, "gitchaos fault rm: want exactly one FAULT or all (got %d arguments)\n", len(f.posArgs))
		return exitUsage
	}
	var nf faults.Fault
	if f.posArgs[0] != "all" {
		sp, err := faults.ParseSpec(f.posArgs[0])
		if err != nil {
			fmt.Fprintf(stderr, "gitchaos fault rm: %v\n", err)
			return exitUsage
		}
		var ok bool
		if nf, ok = sp.(faults.Fault); !ok {
			fmt.Fprintf(stderr, "gitchaos fault rm: %s is a repo fault: clear it with --host H --repo R\n", sp.Name())
			return exitUsage
		}
	}
	p, err := t.proxy(f.host)
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos fault rm: %v\n", err)
		return exitFail
	}
	if nf == nil || nf.Name() == "flap" {
		// A flap added by another process only left the proxy disabled or
		// enabled: RemoveAll re-enables it.
		err = faults.RemoveAll(ctx, p)
	} else {
		err = nf.Recover(ctx, p)
	}
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos fault rm: %s: %v\n", f.host, err)
		return exitFail
	}
	if nf == nil {
		if a, ok := t.admins[f.host]; ok {
			if err := (&gitserver.AdminClient{BaseURL: a}).ClearAllFaults(ctx); err != nil {
				fmt.Fprintf(stderr, "gitchaos fault rm: %s: clear repo faults: %v\n", f.host, err)
				return exitFail
			}
		}
	}
	fmt.Fprintf(stdout, "%s: removed %s\n", f.host, f.posArgs[0])
	return exitOK
}

func faultRmAll(ctx context.Context, t faultTarget, stdout, stderr io.Writer) int {
	ps, err := toxiclient.NewClient(t.toxiURL).Proxies()
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos fault rm: toxiproxy %s: %v\n", t.toxiURL, err)
		return exitFail
	}
	var errs []error
	names := make([]string, 0, len(ps))
	for name := range ps {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := faults.RemoveAll(ctx, ps[name]); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	admins := make([]string, 0, len(t.admins))
	for h := range t.admins {
		admins = append(admins, h)
	}
	sort.Strings(admins)
	for _, h := range admins {
		if err := (&gitserver.AdminClient{BaseURL: t.admins[h]}).ClearAllFaults(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: clear repo faults: %w", h, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(stderr, "gitchaos fault rm: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "removed every fault: proxies %s; repo faults on %s\n", joinOrNone(names), joinOrNone(admins))
	return exitOK
}

func joinOrNone(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, ", ")
}
