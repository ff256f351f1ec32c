package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/harness/faults"
)

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
			fmt.Fprintf(tw, "%s/%s\t%s\n", r.Host, r.Repo, faults.RepoFault{Fault: r.Fault})
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
