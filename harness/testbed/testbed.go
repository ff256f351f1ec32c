// Package testbed starts git hosts — each a git server behind its own
// toxiproxy proxy — and lets scenarios place repos on them, mutate them and
// inject faults without knowing whether the hosts run in-process (Local) or
// in containers (Docker).
package testbed

import (
	"context"
	"errors"

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
}

// Host is one git server behind one toxiproxy proxy.
type Host struct {
	Name     string                 // h0, h1, ...
	URL      string                 // base URL through the proxy, as a target sees it: http://127.0.0.1:PORT
	AdminURL string                 // base URL of the git server's admin API (direct, no proxy)
	Admin    *gitserver.AdminClient // admin API client
	Proxy    *toxiclient.Proxy      // the toxiproxy proxy in front of the git server
}

// RepoURL is the clone URL of repo name through the proxy.
func (h *Host) RepoURL(name string) string { return h.URL + "/" + name + ".git" }

// CreateRepo generates a repo on the host.
func (h *Host) CreateRepo(ctx context.Context, name string, seed int64, spec repogen.Spec) (gitserver.RepoInfo, error) {
	return gitserver.RepoInfo{}, errors.New("testbed: not implemented")
}

// Inject applies a network fault to the host's proxy; undo it with the
// returned function (idempotent) or with Recover.
func (h *Host) Inject(ctx context.Context, f faults.Fault) (undo func(context.Context) error, err error) {
	return nil, errors.New("testbed: not implemented")
}

// NewLocal starts a testbed in this process.
func NewLocal(ctx context.Context, opts Options) (Testbed, error) {
	return nil, errors.New("testbed: not implemented")
}
