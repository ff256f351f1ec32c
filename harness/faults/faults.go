// Package faults is the network fault catalog: each fault acts on one git
// host's toxiproxy proxy through toxiproxy's HTTP API, so the same fault
// works on the local and the docker testbed. Faults are registered by name
// and parsed from strings like "latency:latency=50ms,jitter=10ms".
package faults

import (
	"context"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
)

// Fault is one injectable, undoable network fault.
type Fault interface {
	// Name is the catalog name (offline, blackhole, stall, latency,
	// bandwidth, reset, slow-close, flap).
	Name() string
	// Inject applies the fault to the proxy.
	Inject(ctx context.Context, p *toxiclient.Proxy) error
	// Recover undoes it; recovering a fault that is not applied is a no-op.
	Recover(ctx context.Context, p *toxiclient.Proxy) error
}
