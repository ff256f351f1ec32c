package faults

import (
	"context"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
)

// Blackhole accepts connections and never answers: toxiproxy's "timeout"
// toxic with timeout 0 on both streams drops every byte and never closes
// the connection, while the proxy keeps listening and the upstream stays
// open. A client without a deadline hangs for as long as the fault lasts;
// removing it closes the held connections, so such a client then fails.
type Blackhole struct{}

// Name implements Fault.
func (Blackhole) Name() string { return "blackhole" }

// String is the fault's Parse form.
func (Blackhole) String() string { return "blackhole" }

// Inject implements Fault.
func (Blackhole) Inject(ctx context.Context, p *toxiclient.Proxy) error {
	return addToxics(ctx, p, "blackhole", "timeout", Both, toxiclient.Attributes{"timeout": 0})
}

// Recover implements Fault.
func (Blackhole) Recover(ctx context.Context, p *toxiclient.Proxy) error {
	return removeToxicsFor(ctx, p, "blackhole", Both)
}
