package faults

import (
	"context"
	"fmt"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
)

// Latency delays every chunk of data on Stream (downstream by default) by
// Latency ± Jitter (uniform), with toxiproxy's "latency" toxic.
type Latency struct {
	Latency time.Duration // whole milliseconds
	Jitter  time.Duration // whole milliseconds, 0 for none
	Stream  Stream        // "" means Downstream
}

// parseLatency builds a Latency from its catalog row's keys.
func parseLatency(p *params) (Spec, error) {
	l, err := p.duration("latency", 0)
	if err != nil {
		return nil, err
	}
	j, err := p.duration("jitter", 0)
	if err != nil {
		return nil, err
	}
	s, err := p.stream("stream", Downstream)
	if err != nil {
		return nil, err
	}
	f := Latency{Latency: l, Jitter: j, Stream: s}
	return f, f.Validate()
}

// Validate reports what is wrong with the settings.
func (f Latency) Validate() error {
	if _, err := millis("latency", "latency", f.Latency); err != nil {
		return err
	}
	if _, err := millis("latency", "jitter", f.Jitter); err != nil {
		return err
	}
	if f.Latency == 0 && f.Jitter == 0 {
		return fmt.Errorf("faults: latency: latency and jitter are both 0 (no effect)")
	}
	if err := f.stream().Validate(); err != nil {
		return fmt.Errorf("faults: latency: %w", err)
	}
	return nil
}

func (f Latency) stream() Stream {
	if f.Stream == "" {
		return Downstream
	}
	return f.Stream
}

// Name implements Fault.
func (Latency) Name() string { return "latency" }

// String is the fault's Parse form.
func (f Latency) String() string {
	return fmt.Sprintf("latency:latency=%v,jitter=%v,stream=%s", f.Latency, f.Jitter, f.stream())
}

// Inject implements Fault.
func (f Latency) Inject(ctx context.Context, p *toxiclient.Proxy) error {
	if err := f.Validate(); err != nil {
		return err
	}
	return addToxics(ctx, p, "latency", "latency", f.stream(), toxiclient.Attributes{
		"latency": f.Latency.Milliseconds(),
		"jitter":  f.Jitter.Milliseconds(),
	})
}

// Recover implements Fault.
func (f Latency) Recover(ctx context.Context, p *toxiclient.Proxy) error {
	return removeToxicsFor(ctx, p, "latency", Both)
}
