package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/harness/faults"
)

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
