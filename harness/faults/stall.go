package faults

import (
	"context"
	"fmt"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"

	"github.com/gitchaos/gitchaos/harness/faults/stalltoxic"
)

// DefaultStallAfter is how many bytes a stall lets through when not told:
// enough for a small ref advertisement, not for a pack.
const DefaultStallAfter = 1024

// Stall lets the first After bytes of each connection through (on Stream,
// downstream by default), then stops forwarding while the connection stays
// open: a transfer that starts and freezes. It uses the custom "stall"
// toxic (package stalltoxic), which the toxiproxy server must have
// registered. Removing it delivers the held bytes and the transfer resumes.
type Stall struct {
	After  int64  // bytes forwarded per connection before the stall
	Stream Stream // "" means Downstream
}

// parseStall builds a Stall from its catalog row's keys.
func parseStall(p *params) (Spec, error) {
	after, err := p.size("after", DefaultStallAfter)
	if err != nil {
		return nil, err
	}
	s, err := p.stream("stream", Downstream)
	if err != nil {
		return nil, err
	}
	f := Stall{After: after, Stream: s}
	return f, f.Validate()
}

// Validate reports what is wrong with the settings.
func (f Stall) Validate() error {
	if f.After < 0 {
		return fmt.Errorf("faults: stall: after=%d is negative", f.After)
	}
	if err := f.stream().Validate(); err != nil {
		return fmt.Errorf("faults: stall: %w", err)
	}
	return nil
}

func (f Stall) stream() Stream {
	if f.Stream == "" {
		return Downstream
	}
	return f.Stream
}

// Name implements Fault.
func (Stall) Name() string { return "stall" }

// String is the fault's Parse form.
func (f Stall) String() string {
	return fmt.Sprintf("stall:after=%d,stream=%s", f.After, f.stream())
}

// Inject implements Fault.
func (f Stall) Inject(ctx context.Context, p *toxiclient.Proxy) error {
	if err := f.Validate(); err != nil {
		return err
	}
	return addToxics(ctx, p, "stall", stalltoxic.TypeName, f.stream(), toxiclient.Attributes{"bytes": f.After})
}

// Recover implements Fault.
func (f Stall) Recover(ctx context.Context, p *toxiclient.Proxy) error {
	return removeToxicsFor(ctx, p, "stall", Both)
}
