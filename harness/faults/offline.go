package faults

import (
	"context"
	"fmt"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
)

// Offline disables the proxy: its listener closes, so connecting is refused
// at once, and open connections through it are dropped.
type Offline struct{}

// Name implements Fault.
func (Offline) Name() string { return "offline" }

// String is the fault's Parse form.
func (Offline) String() string { return "offline" }

// Inject implements Fault.
func (Offline) Inject(ctx context.Context, p *toxiclient.Proxy) error {
	if p == nil {
		return fmt.Errorf("faults: offline: nil proxy")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("faults: offline: inject on %s: %w", p.Name, err)
	}
	if err := setEnabled(p, false); err != nil {
		return fmt.Errorf("faults: offline: disable proxy %s: %w", p.Name, err)
	}
	return nil
}

// Recover implements Fault: it enables the proxy (a no-op when enabled).
func (Offline) Recover(ctx context.Context, p *toxiclient.Proxy) error {
	if p == nil {
		return fmt.Errorf("faults: offline: nil proxy")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("faults: offline: recover on %s: %w", p.Name, err)
	}
	if err := setEnabled(p, true); err != nil && !IsNotFound(err) {
		return fmt.Errorf("faults: offline: enable proxy %s: %w", p.Name, err)
	}
	return nil
}
