package faults

import (
	"context"
	"fmt"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
)

// SlowClose delays the close of a connection on Stream (downstream by
// default: the server hung up, the client learns it Delay later), with
// toxiproxy's "slow_close" toxic. Data still flows normally.
type SlowClose struct {
	Delay  time.Duration // whole milliseconds, > 0
	Stream Stream        // "" means Downstream
}

// parseSlowClose builds a SlowClose from its catalog row's keys.
func parseSlowClose(p *params) (Spec, error) {
	d, err := p.duration("delay", 0)
	if err != nil {
		return nil, err
	}
	s, err := p.stream("stream", Downstream)
	if err != nil {
		return nil, err
	}
	f := SlowClose{Delay: d, Stream: s}
	return f, f.Validate()
}

// Validate reports what is wrong with the settings.
func (f SlowClose) Validate() error {
	if _, err := millis("slow-close", "delay", f.Delay); err != nil {
		return err
	}
	if f.Delay == 0 {
		return fmt.Errorf("faults: slow-close: delay is 0 (no effect)")
	}
	if err := f.stream().Validate(); err != nil {
		return fmt.Errorf("faults: slow-close: %w", err)
	}
	return nil
}

func (f SlowClose) stream() Stream {
	if f.Stream == "" {
		return Downstream
	}
	return f.Stream
}

// Name implements Fault.
func (SlowClose) Name() string { return "slow-close" }

// String is the fault's Parse form.
func (f SlowClose) String() string {
	return fmt.Sprintf("slow-close:delay=%v,stream=%s", f.Delay, f.stream())
}

// Inject implements Fault.
func (f SlowClose) Inject(ctx context.Context, p *toxiclient.Proxy) error {
	if err := f.Validate(); err != nil {
		return err
	}
	return addToxics(ctx, p, "slow-close", "slow_close", f.stream(), toxiclient.Attributes{"delay": f.Delay.Milliseconds()})
}

// Recover implements Fault.
func (f SlowClose) Recover(ctx context.Context, p *toxiclient.Proxy) error {
	return removeToxicsFor(ctx, p, "slow-close", Both)
}
