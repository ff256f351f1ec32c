package faults

import (
	"context"
	"fmt"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
)

// Bandwidth limits the data rate on Stream (downstream by default) to
// RateKBps kilobytes per second (1 KB = 1000 bytes, toxiproxy's unit),
// with toxiproxy's "bandwidth" toxic.
type Bandwidth struct {
	RateKBps int64  // > 0
	Stream   Stream // "" means Downstream
}

// parseBandwidth builds a Bandwidth from its catalog row's keys.
func parseBandwidth(p *params) (Spec, error) {
	r, err := p.integer("rate", 0)
	if err != nil {
		return nil, err
	}
	if r <= 0 {
		return nil, p.errorf("rate", "must be > 0 KB/s")
	}
	s, err := p.stream("stream", Downstream)
	if err != nil {
		return nil, err
	}
	f := Bandwidth{RateKBps: r, Stream: s}
	return f, f.Validate()
}

// Validate reports what is wrong with the settings.
func (f Bandwidth) Validate() error {
	if f.RateKBps <= 0 {
		return fmt.Errorf("faults: bandwidth: rate %d KB/s must be > 0 (toxiproxy reads 0 as unlimited)", f.RateKBps)
	}
	if err := f.stream().Validate(); err != nil {
		return fmt.Errorf("faults: bandwidth: %w", err)
	}
	return nil
}

func (f Bandwidth) stream() Stream {
	if f.Stream == "" {
		return Downstream
	}
	return f.Stream
}

// Name implements Fault.
func (Bandwidth) Name() string { return "bandwidth" }

// String is the fault's Parse form.
func (f Bandwidth) String() string {
	return fmt.Sprintf("bandwidth:rate=%d,stream=%s", f.RateKBps, f.stream())
}

// Inject implements Fault.
func (f Bandwidth) Inject(ctx context.Context, p *toxiclient.Proxy) error {
	if err := f.Validate(); err != nil {
		return err
	}
	return addToxics(ctx, p, "bandwidth", "bandwidth", f.stream(), toxiclient.Attributes{"rate": f.RateKBps})
}

// Recover implements Fault.
func (f Bandwidth) Recover(ctx context.Context, p *toxiclient.Proxy) error {
	return removeToxicsFor(ctx, p, "bandwidth", Both)
}
