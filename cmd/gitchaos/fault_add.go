package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/harness/faults"
)

// parseRepoFault reads MODE[:key=value,...].
func parseRepoFault(s string) (gitserver.Fault, error) {
	name, rest, _ := strings.Cut(strings.TrimSpace(s), ":")
	var f gitserver.Fault
	known := make([]string, len(repoModes))
	for i, m := range repoModes {
		known[i] = string(m.mode)
		if string(m.mode) == name {
			f.Mode = m.mode
		}
	}
	if f.Mode == "" {
		return f, fmt.Errorf("unknown repo fault mode %q (known: %s)", name, strings.Join(known, ", "))
	}
	if rest != "" {
		for _, kv := range strings.Split(rest, ",") {
			k, v, ok := strings.Cut(kv, "=")
			k = strings.TrimSpace(k)
			if ok && k != "count" && k != "bytes_per_sec" {
				return f, fmt.Errorf("repo fault %s: unknown key %q (known: count, bytes_per_sec)", name, k)
			}
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if !ok || err != nil || n < 0 {
				return f, fmt.Errorf("repo fault %s: parameter %q: want key=N with N >= 0", name, kv)
			}
			switch k {
			case "count":
				f.Count = n
			case "bytes_per_sec":
				if f.Mode != gitserver.FaultSlow {
					return f, fmt.Errorf("repo fault %s: bytes_per_sec applies only to slow", name)
				}
				f.BytesPerSec = n
			default:
				return f, fmt.Errorf("repo fault %s: unknown key %q (known: count, bytes_per_sec)", name, k)
			}
		}
	}
	if f.Mode == gitserver.FaultSlow && f.BytesPerSec <= 0 {
		return f, fmt.Errorf("repo fault slow: bytes_per_sec=N (N > 0) is required")
	}
	return f, nil
}

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
	spec := f.posArgs[0]
	if f.repo != "" {
		rf, err := parseRepoFault(spec)
		if err != nil {
			fmt.Fprintf(stderr, "gitchaos fault add: %v\n", err)
			return exitUsage
		}
		admin, err := t.admin(f.host)
		if err != nil {
			fmt.Fprintf(stderr, "gitchaos fault add: %v\n", err)
			return exitUsage
		}
		if err := admin.SetFault(ctx, f.repo, rf); err != nil {
			fmt.Fprintf(stderr, "gitchaos fault add: %s/%s: %v\n", f.host, f.repo, err)
			return exitFail
		}
		fmt.Fprintf(stdout, "%s/%s: %s\n", f.host, f.repo, spec)
		return exitOK
	}
	nf, err := faults.Parse(spec)
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos fault add: %v\n", err)
		return exitUsage
	}
	p, err := t.proxy(f.host)
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos fault add: %v\n", err)
		return exitFail
	}
	if err := nf.Inject(ctx, p); err != nil {
		fmt.Fprintf(stderr, "gitchaos fault add: %s: %v\n", f.host, err)
		return exitFail
	}
	fmt.Fprintf(stdout, "%s: %s\n", f.host, spec)
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
