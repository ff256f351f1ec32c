package faults

import (
	"context"
	"fmt"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
)

// Reset resets connections (TCP RST, toxiproxy's "reset_peer" toxic): once
// data arrives on Stream (upstream by default, i.e. the client's request),
// the connection is reset after Timeout (0: at once), and that data is
// dropped.
type Reset struct {
	Timeout time.Duration // whole milliseconds
	Stream  Stream        // "" means Upstream
}

// parseReset builds a Reset from its catalog row's keys.
func parseReset(p *params) (Spec, error) {
	d, err := p.duration("timeout", 0)
	if err != nil {
		return nil, err
	}
	s, err := p.stream("stream", Upstream)
	if err != nil {
		return nil, err
	}
	f := Reset{Timeout: d, Stream: s}
	return f, f.Validate()
}

// Validate reports what is wrong with the settings.
func (f Reset) Validate() error {
	if _, err := millis("reset", "timeout", f.Timeout); err != nil {
		return err
	}
	if err := f.stream().Validate(); err != nil {
		return fmt.Errorf("faults: reset: %w", err)
	}
	return nil
}

func (f Reset) stream() Stream {
	if f.Stream == "" {
		return Upstream
	}
	return f.Stream
}

// Name implements Fault.
func (Reset) Name() string { return "reset" }

// String is the fault's Parse form.
func (f Reset) String() string {
	return fmt.Sprintf("reset:timeout=%v,stream=%s", f.Timeout, f.stream())
}

// Inject implements Fault.
func (f Reset) Inject(ctx context.Context, p *toxiclient.Proxy) error {
	if err := f.Validate(); err != nil {
		return err
	}
	return addToxics(ctx, p, "reset", "reset_peer", f.stream(), toxiclient.Attributes{"timeout": f.Timeout.Milliseconds()})
}

// Recover implements Fault.
func (f Reset) Recover(ctx context.Context, p *toxiclient.Proxy) error {
	return removeToxicsFor(ctx, p, "reset", Both)
}
