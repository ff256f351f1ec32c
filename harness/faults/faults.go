// Package faults is the fault catalog: every fault a gate, the soak or
// `gitchaos fault` can inject, of two kinds. A network fault acts on one
// git host's toxiproxy proxy through toxiproxy's HTTP API, so it works on
// the local and the docker testbed alike; a repo fault is a server-side
// fault on one repo, set through the git server's admin API (package
// gitserver serves it). The catalog is one table (catalog.go) in listing
// order; every fault is written in one grammar, "name" or
// "name:key=value,key=value" (e.g. "latency:latency=50ms,jitter=10ms",
// "hang:op=git-upload-pack"), read by ParseSpec, and every parsed fault's
// String method gives that form back.
//
// # Adding a fault
//
// A network fault: a file here with its type (Name, String, Inject,
// Recover; toxic.go's addToxics and removeToxicsFor do the toxiproxy
// work), one row in catalog.go's table (name, kind, doc, params, an
// example, its parse function), and a row in docs/testbed.md's fault
// table. An end-to-end test beside TestLatency in faults_test.go shows it
// acts on a connection.
//
// A repo fault: the mode in fixtures/gitserver (its constant and
// FaultModes in admin_faults.go, its behaviour in server.go's serveGit),
// one row in catalog.go's table (parseRepo builds it), and a row in
// docs/testbed.md's mode table.
//
// Tests name what is missing: TestCatalog a row without a doc, documented
// params or an example that parses back to itself, or a gitserver mode
// without a row; gitserver's TestFaultModesListsEveryMode a mode left out
// of FaultModes; cmd/gitchaos's TestFaultCatalogInDocs a fault without a
// docs row. Nothing else lists faults: `gitchaos fault catalog` prints the
// table, and the gates (s.faults.Inject), the soak and `gitchaos fault add`
// go through ParseSpec.
package faults

import (
	"context"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
)

// Kind says what a fault acts on.
type Kind string

// Kinds of fault.
const (
	// KindNetwork faults act on a git host's toxiproxy proxy (Fault).
	KindNetwork Kind = "network"
	// KindRepo faults act on one repo of a host's git server (RepoFault).
	KindRepo Kind = "repo"
)

// Spec is one parsed catalog fault, of either kind: a network Fault or a
// RepoFault. ParseSpec(s.String()) gives back an equal Spec.
type Spec interface {
	// Name is the catalog name.
	Name() string
	// String is the fault's ParseSpec form.
	String() string
}

// Fault is one injectable, undoable network fault.
type Fault interface {
	// Name is the catalog name (Names lists them).
	Name() string
	// String is the fault's Parse form.
	String() string
	// Inject applies the fault to the proxy.
	Inject(ctx context.Context, p *toxiclient.Proxy) error
	// Recover undoes it; recovering a fault that is not applied is a no-op.
	Recover(ctx context.Context, p *toxiclient.Proxy) error
}
