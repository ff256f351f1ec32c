// Package testbed starts git hosts — each a git server behind its own
// toxiproxy proxy — and lets scenarios place repos on them, mutate them and
// inject faults without knowing whether the hosts run in-process (Local) or
// in containers (Docker).
//
// A Host is the unit faults act on: network faults (package faults) go to
// its toxiproxy proxy, server-side faults to its git server's admin API.
// Host.Inject returns an undo function; Host.Recover undoes everything
// injected on the host, and closing a testbed recovers every host first.
package testbed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/fixtures/repogen"
	"github.com/gitchaos/gitchaos/harness/faults"
)

// Testbed is a set of git hosts behind toxiproxy.
type Testbed interface {
	// Kind is "local" or "docker".
	Kind() string
	// Hosts returns the hosts in creation order.
	Hosts() []*Host
	// Host returns the host with that name.
	Host(name string) (*Host, error)
	// Toxiproxy is a client for the toxiproxy API that fronts every host.
	Toxiproxy() *toxiclient.Client
	// Close undoes every fault, stops every server and proxy and removes
	// every temp dir, container and network it created.
	Close() error
}

// Options configures a testbed.
type Options struct {
	Hosts  int              // number of hosts, named h0, h1, ... (default 1)
	Repos  int              // repos seeded per host at start, named r000, r001, ... (default 0)
	Seed   int64            // seed for the seeded repos
	Spec   repogen.Spec     // spec for the seeded repos (zero: repogen.DefaultSpec())
	Engine gitserver.Engine // git server engine (local only; docker always go-git)
	Logger *slog.Logger     // nil: slog.Default() (local only: passed to the git servers)
	Dir    string           // local only: parent of the testbed's temp dir ("": DefaultDir())
	// Transport is what Host.URL speaks through the proxy: "http" (""),
	// or "ssh" (ssh://git@127.0.0.1:PORT, keys from SSHKeys).
	Transport string
}

// Limits enforced by Options.Validate.
const (
	MaxHosts = 64
	MaxRepos = 10000 // per host
)

// Validate reports what is wrong with the options (after defaults).
func (o Options) Validate() error {
	var errs []error
	if o.Hosts < 0 || o.Hosts > MaxHosts {
		errs = append(errs, fmt.Errorf("hosts must be in [0, %d] (0 means 1), got %d", MaxHosts, o.Hosts))
	}
	if o.Repos < 0 || o.Repos > MaxRepos {
		errs = append(errs, fmt.Errorf("repos must be in [0, %d], got %d", MaxRepos, o.Repos))
	}
	if !o.Spec.IsZero() {
		if err := o.Spec.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := o.Engine.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := ValidateTransport(o.Transport); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("testbed: invalid options: %w", errors.Join(errs...))
	}
	return nil
}

// withDefaults fills in the documented defaults.
func (o Options) withDefaults() Options {
	if o.Hosts == 0 {
		o.Hosts = 1
	}
	if o.Spec.IsZero() {
		o.Spec = repogen.DefaultSpec()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// HostName is the name of the i-th host: h0, h1, ...
func HostName(i int) string { return fmt.Sprintf("h%d", i) }

// RepoName is the name of the i-th seeded repo of a host: r000, r001, ...
func RepoName(i int) string { return fmt.Sprintf("r%03d", i) }

// RepoSeed is the repogen seed of seeded repo repo on host host of a
// testbed started with seed: every seeded repo of a testbed is distinct,
// and the same seed gives the same commit hashes on every run (and on host
// h0 it is seed+repo).
func RepoSeed(seed int64, host, repo int) int64 {
	return seed + int64(host)*1_000_003 + int64(repo)
}

// Host is one git server behind one toxiproxy proxy. Build it with a keyed
// literal (the zero values of its unexported fields are ready to use) and
// never copy it.
type Host struct {
	Name     string                 // h0, h1, ...
	URL      string                 // base URL through the proxy, as a target sees it: http://127.0.0.1:PORT (ssh://git@127.0.0.1:PORT over SSH)
	AdminURL string                 // base URL of the git server's admin API (direct, no proxy)
	Admin    *gitserver.AdminClient // admin API client
	Proxy    *toxiclient.Proxy      // the toxiproxy proxy in front of the git server

	mu     sync.Mutex
	active []*injection // network faults injected and not yet undone, oldest first
}

// injection is one network fault applied to a host's proxy.
type injection struct {
	fault faults.Fault
	mu    sync.Mutex
	done  bool
}

// RepoURL is the clone URL of repo name through the proxy.
func (h *Host) RepoURL(name string) string { return h.URL + "/" + name + ".git" }

// DirectRepoURL is the clone URL of repo name straight at the git server,
// bypassing the proxy (and so every network fault).
func (h *Host) DirectRepoURL(name string) string { return h.AdminURL + "/" + name + ".git" }

// CreateRepo generates a repo on the host through its admin API (a zero
// spec means repogen.DefaultSpec()).
func (h *Host) CreateRepo(ctx context.Context, name string, seed int64, spec repogen.Spec) (gitserver.RepoInfo, error) {
	if h.Admin == nil {
		return gitserver.RepoInfo{}, fmt.Errorf("testbed: create repo %q on host %s: host has no admin client", name, h.Name)
	}
	if spec.IsZero() {
		spec = repogen.DefaultSpec()
	}
	info, err := h.Admin.CreateRepo(ctx, gitserver.CreateRepoRequest{Name: name, Seed: seed, Spec: spec})
	if err != nil {
		return gitserver.RepoInfo{}, fmt.Errorf("testbed: create repo %q on host %s: %w", name, h.Name, err)
	}
	return info, nil
}

// Inject applies a network fault to the host's proxy; undo it with the
// returned function (idempotent: after a successful undo further calls do
// nothing; after a failed one, calling again retries) or with Recover.
func (h *Host) Inject(ctx context.Context, f faults.Fault) (undo func(context.Context) error, err error) {
	if f == nil {
		return nil, fmt.Errorf("testbed: inject on host %s: nil fault", h.Name)
	}
	if h.Proxy == nil {
		return nil, fmt.Errorf("testbed: inject %s on host %s: host has no proxy", f.Name(), h.Name)
	}
	if err := f.Inject(ctx, h.Proxy); err != nil {
		return nil, fmt.Errorf("testbed: inject %s on host %s: %w", f.Name(), h.Name, err)
	}
	in := &injection{fault: f}
	h.mu.Lock()
	h.active = append(h.active, in)
	h.mu.Unlock()
	return func(ctx context.Context) error { return h.undo(ctx, in) }, nil
}

// undo recovers one injection once.
func (h *Host) undo(ctx context.Context, in *injection) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.done {
		return nil
	}
	if err := in.fault.Recover(ctx, h.Proxy); err != nil {
		return fmt.Errorf("testbed: recover %s on host %s: %w", in.fault.Name(), h.Name, err)
	}
	in.done = true
	h.mu.Lock()
	h.active = slices.DeleteFunc(h.active, func(x *injection) bool { return x == in })
	h.mu.Unlock()
	return nil
}

// Active lists the names of the network faults injected on the host and not
// yet undone, oldest first.
func (h *Host) Active() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	names := make([]string, len(h.active))
	for i, in := range h.active {
		names[i] = in.fault.Name()
	}
	return names
}

// Recover undoes every fault on the host: the network faults injected
// through Inject (newest first, stopping a flap's schedule), any toxic
// left on the proxy (re-enabling it), and every server-side repo fault
// (admin ClearAllFaults, which also releases hung requests). It tries all
// of them and reports every failure.
func (h *Host) Recover(ctx context.Context) error {
	errs := []error{h.RecoverNetwork(ctx)}
	if h.Admin != nil {
		if err := h.Admin.ClearAllFaults(ctx); err != nil {
			errs = append(errs, fmt.Errorf("testbed: clear server faults on host %s: %w", h.Name, err))
		}
	}
	return errors.Join(errs...)
}

// RecoverNetwork is Recover without the server-side faults: it undoes the
// network faults injected through Inject (newest first) and sweeps any
// toxic left on the proxy, enabling it again.
func (h *Host) RecoverNetwork(ctx context.Context) error {
	h.mu.Lock()
	active := slices.Clone(h.active)
	h.mu.Unlock()
	var errs []error
	for _, in := range slices.Backward(active) {
		if err := h.undo(ctx, in); err != nil {
			errs = append(errs, err)
		}
	}
	if h.Proxy != nil {
		if err := faults.RemoveAll(ctx, h.Proxy); err != nil {
			errs = append(errs, fmt.Errorf("testbed: sweep toxics on host %s: %w", h.Name, err))
		}
	}
	return errors.Join(errs...)
}
