package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"

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

// faultTarget is where faults go: a toxiproxy API and the admin APIs of
// the hosts' git servers.
type faultTarget struct {
	toxiURL string
	admins  map[string]string // host -> admin URL
}

// adminFlag collects --admin H=URL.
type adminFlag map[string]string

func (a adminFlag) String() string { return fmt.Sprint(map[string]string(a)) }
func (a adminFlag) Set(s string) error {
	h, u, ok := strings.Cut(s, "=")
	if !ok || h == "" || !strings.HasPrefix(u, "http") {
		return fmt.Errorf("want HOST=URL (e.g. h0=http://127.0.0.1:18000), got %q", s)
	}
	a[h] = strings.TrimRight(u, "/")
	return nil
}

type faultFlags struct {
	fs       *flag.FlagSet
	testbed  string
	toxi     string
	admins   adminFlag
	host     string
	repo     string
	all      bool
	jsonOut  bool
	posArgs  []string
	toxiFlag bool
}

func newFaultFlags(name string, stderr io.Writer) *faultFlags {
	f := &faultFlags{fs: flag.NewFlagSet("fault "+name, flag.ContinueOnError), admins: adminFlag{}}
	f.fs.SetOutput(stderr)
	f.fs.Usage = func() { fmt.Fprint(stderr, faultUsage) }
	f.fs.StringVar(&f.testbed, "testbed", os.Getenv("GITCHAOS_TESTBED"), "testbed description JSON (from gitchaos testbed up)")
	f.fs.StringVar(&f.toxi, "toxiproxy", "", "toxiproxy API URL (default $GITCHAOS_TOXIPROXY or "+DefaultToxiproxyURL+")")
	f.fs.Var(f.admins, "admin", "HOST=URL of a git server admin API (repeatable)")
	f.fs.StringVar(&f.host, "host", "", "host (proxy) name, e.g. h0")
	f.fs.StringVar(&f.repo, "repo", "", "repo name for a server-side fault, e.g. r000")
	f.fs.BoolVar(&f.all, "all", false, "rm: every fault on every host")
	f.fs.BoolVar(&f.jsonOut, "json", false, "list: print JSON")
	return f
}

// parse accepts flags before and after positional arguments.
func (f *faultFlags) parse(args []string) (ok bool, code int) {
	for {
		if err := f.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return false, exitOK
			}
			return false, exitUsage
		}
		if f.fs.NArg() == 0 {
			break
		}
		f.posArgs = append(f.posArgs, f.fs.Arg(0))
		args = f.fs.Args()[1:]
	}
	f.fs.Visit(func(fl *flag.Flag) {
		if fl.Name == "toxiproxy" {
			f.toxiFlag = true
		}
	})
	return true, exitOK
}

// target resolves where faults go from --testbed, --toxiproxy, --admin and
// the environment.
func (f *faultFlags) target() (faultTarget, error) {
	t := faultTarget{admins: map[string]string{}}
	if f.testbed != "" {
		data, err := os.ReadFile(f.testbed)
		if err != nil {
			return t, fmt.Errorf("--testbed: %w", err)
		}
		var d Description
		if err := json.Unmarshal(data, &d); err != nil {
			return t, fmt.Errorf("--testbed %s: not a testbed description (the JSON of gitchaos testbed up): %w", f.testbed, err)
		}
		if d.Toxiproxy == "" {
			return t, fmt.Errorf("--testbed %s: no toxiproxy URL in it", f.testbed)
		}
		t.toxiURL = d.Toxiproxy
		for _, h := range d.Hosts {
			if h.AdminURL != "" {
				t.admins[h.Name] = h.AdminURL
			}
		}
	}
	switch {
	case f.toxiFlag:
		t.toxiURL = f.toxi
	case t.toxiURL != "":
	case os.Getenv("GITCHAOS_TOXIPROXY") != "":
		t.toxiURL = os.Getenv("GITCHAOS_TOXIPROXY")
	default:
		t.toxiURL = DefaultToxiproxyURL
	}
	if !strings.HasPrefix(t.toxiURL, "http://") && !strings.HasPrefix(t.toxiURL, "https://") {
		return t, fmt.Errorf("toxiproxy URL %q: want http://HOST:PORT", t.toxiURL)
	}
	t.toxiURL = strings.TrimRight(t.toxiURL, "/")
	for h, u := range f.admins {
		t.admins[h] = u
	}
	return t, nil
}

func (t faultTarget) admin(host string) (*gitserver.AdminClient, error) {
	u, ok := t.admins[host]
	if !ok {
		known := make([]string, 0, len(t.admins))
		for h := range t.admins {
			known = append(known, h)
		}
		sort.Strings(known)
		return nil, fmt.Errorf("no admin URL for host %q (known: %s): pass --testbed FILE or --admin %s=URL", host, strings.Join(known, ", "), host)
	}
	return &gitserver.AdminClient{BaseURL: u}, nil
}

func (t faultTarget) proxy(host string) (*toxiclient.Proxy, error) {
	p, err := toxiclient.NewClient(t.toxiURL).Proxy(host)
	if err != nil {
		if faults.IsNotFound(err) {
			return nil, fmt.Errorf("toxiproxy %s has no proxy %q (gitchaos fault list shows the hosts)", t.toxiURL, host)
		}
		return nil, fmt.Errorf("toxiproxy %s: proxy %q: %w", t.toxiURL, host, err)
	}
	return p, nil
}

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
		if nf, err = faults.Parse(f.posArgs[0]); err != nil {
			fmt.Fprintf(stderr, "gitchaos fault rm: %v\n", err)
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

// FaultListing is what `fault list --json` prints.
type FaultListing struct {
	Toxiproxy string         `json:"toxiproxy"`
	Hosts     []HostFaults   `json:"hosts"`
	Repos     []RepoFaultRow `json:"repos,omitempty"`
}

// HostFaults is one proxy's state.
type HostFaults struct {
	Name     string   `json:"name"`
	Listen   string   `json:"listen"`
	Upstream string   `json:"upstream"`
	Enabled  bool     `json:"enabled"`
	Toxics   []string `json:"toxics"` // "name type stream attrs"
}

// RepoFaultRow is one repo with a server-side fault.
type RepoFaultRow struct {
	Host  string          `json:"host"`
	Repo  string          `json:"repo"`
	Fault gitserver.Fault `json:"fault"`
}

func faultList(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := newFaultFlags("list", stderr)
	if ok, code := f.parse(args); !ok {
		return code
	}
	if len(f.posArgs) > 0 || f.host != "" || f.repo != "" || f.all {
		fmt.Fprintf(stderr, "gitchaos fault list: takes only TARGET flags and --json\n")
		return exitUsage
	}
	t, err := f.target()
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos fault list: %v\n", err)
		return exitUsage
	}
	l, err := listFaults(ctx, t)
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos fault list: %v\n", err)
		return exitFail
	}
	if f.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(l); err != nil {
			fmt.Fprintf(stderr, "gitchaos fault list: %v\n", err)
			return exitFail
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tSTATE\tLISTEN\tUPSTREAM\tTOXICS")
	for _, h := range l.Hosts {
		state := "enabled"
		if !h.Enabled {
			state = "DISABLED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", h.Name, state, h.Listen, h.Upstream, joinOrNone(h.Toxics))
	}
	if len(l.Repos) > 0 {
		fmt.Fprintln(tw, "\nHOST/REPO\tFAULT")
		for _, r := range l.Repos {
			fmt.Fprintf(tw, "%s/%s\t%s count=%d bytes_per_sec=%d\n", r.Host, r.Repo, r.Fault.Mode, r.Fault.Count, r.Fault.BytesPerSec)
		}
	}
	tw.Flush()
	return exitOK
}

func listFaults(ctx context.Context, t faultTarget) (FaultListing, error) {
	l := FaultListing{Toxiproxy: t.toxiURL, Hosts: []HostFaults{}}
	ps, err := toxiclient.NewClient(t.toxiURL).Proxies()
	if err != nil {
		return l, fmt.Errorf("toxiproxy %s: %w (is the testbed or compose stack running?)", t.toxiURL, err)
	}
	for name, p := range ps {
		h := HostFaults{Name: name, Listen: p.Listen, Upstream: p.Upstream, Enabled: p.Enabled, Toxics: []string{}}
		for _, x := range p.ActiveToxics {
			attrs := make([]string, 0, len(x.Attributes))
			for k, v := range x.Attributes {
				attrs = append(attrs, fmt.Sprintf("%s=%v", k, v))
			}
			sort.Strings(attrs)
			h.Toxics = append(h.Toxics, strings.TrimSpace(fmt.Sprintf("%s(%s %s %s)", x.Name, x.Type, x.Stream, strings.Join(attrs, ","))))
		}
		l.Hosts = append(l.Hosts, h)
	}
	slices.SortFunc(l.Hosts, func(a, b HostFaults) int { return strings.Compare(a.Name, b.Name) })
	hosts := make([]string, 0, len(t.admins))
	for h := range t.admins {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	for _, h := range hosts {
		repos, err := (&gitserver.AdminClient{BaseURL: t.admins[h]}).ListRepos(ctx)
		if err != nil {
			return l, fmt.Errorf("host %s admin %s: %w", h, t.admins[h], err)
		}
		for _, r := range repos {
			if r.Fault != nil {
				l.Repos = append(l.Repos, RepoFaultRow{Host: h, Repo: r.Name, Fault: *r.Fault})
			}
		}
	}
	return l, nil
}
