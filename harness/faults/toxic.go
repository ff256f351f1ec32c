package faults

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
)

// ToxicPrefix starts the name of every toxic this package adds, so a
// sweep can tell them apart from toxics added by hand.
const ToxicPrefix = "gitchaos_"

// toxicName is the toxic's name on the proxy: one per fault and stream, so
// injecting the same fault twice on a proxy is refused by toxiproxy (409)
// and recovering finds exactly what was added.
func toxicName(fault, stream string) string { return ToxicPrefix + fault + "_" + stream }

// toxicity is always sent explicitly: the Go client sends the field even
// when zero, and a toxicity of 0 would never fire.
const toxicity float32 = 1.0

// addToxics adds one toxic of type typ per direction of s. If one fails,
// those already added are removed again.
func addToxics(ctx context.Context, p *toxiclient.Proxy, fault, typ string, s Stream, attrs toxiclient.Attributes) error {
	if p == nil {
		return fmt.Errorf("faults: %s: nil proxy", fault)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("faults: %s: inject on %s: %w", fault, p.Name, err)
	}
	var added []string
	for _, dir := range s.directions() {
		name := toxicName(fault, dir)
		if _, err := p.AddToxic(name, typ, dir, toxicity, attrs); err != nil {
			rollbackErr := removeToxics(context.WithoutCancel(ctx), p, fault, added)
			return errors.Join(fmt.Errorf("faults: %s: add %s toxic %q to proxy %s: %w", fault, typ, name, p.Name, err), rollbackErr)
		}
		added = append(added, name)
	}
	return nil
}

// removeToxicsFor removes the toxics addToxics added for s.
func removeToxicsFor(ctx context.Context, p *toxiclient.Proxy, fault string, s Stream) error {
	var names []string
	for _, dir := range Both.directions() { // both: recover whatever was added
		if s == Both || string(s) == dir {
			names = append(names, toxicName(fault, dir))
		}
	}
	return removeToxics(ctx, p, fault, names)
}

// removeToxics removes toxics by name; a toxic (or proxy) that is not there
// is not an error.
func removeToxics(ctx context.Context, p *toxiclient.Proxy, fault string, names []string) error {
	if p == nil {
		return fmt.Errorf("faults: %s: nil proxy", fault)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("faults: %s: recover on %s: %w", fault, p.Name, err)
	}
	var errs []error
	for _, name := range names {
		if err := p.RemoveToxic(name); err != nil && !IsNotFound(err) {
			errs = append(errs, fmt.Errorf("faults: %s: remove toxic %q from proxy %s: %w", fault, name, p.Name, err))
		}
	}
	return errors.Join(errs...)
}

// IsNotFound reports whether err is toxiproxy's 404 (no such proxy or toxic).
func IsNotFound(err error) bool {
	var apiErr *toxiclient.ApiError
	return errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound
}

// setEnabled enables or disables the proxy. It saves a copy, so the
// caller's Proxy value is never written (faults may run concurrently with
// readers of it, e.g. a flap goroutine).
func setEnabled(p *toxiclient.Proxy, enabled bool) error {
	cp := *p
	cp.ActiveToxics = nil // Save decodes the answer into it: keep the shared slice untouched
	cp.Enabled = enabled
	return cp.Save()
}

// RemoveAll removes every toxic from the proxy and enables it again: a sweep for when the Fault
// values that were injected are no longer at hand. It does not stop a
// running flap goroutine: recover that Fault itself.
func RemoveAll(ctx context.Context, p *toxiclient.Proxy) error {
	if p == nil {
		return errors.New("faults: remove all: nil proxy")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("faults: remove all on %s: %w", p.Name, err)
	}
	ts, err := p.Toxics()
	if err != nil {
		if IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("faults: list toxics of proxy %s: %w", p.Name, err)
	}
	var errs []error
	for _, t := range ts {
		if err := p.RemoveToxic(t.Name); err != nil && !IsNotFound(err) {
			errs = append(errs, fmt.Errorf("faults: remove toxic %q from proxy %s: %w", t.Name, p.Name, err))
		}
	}
	if err := setEnabled(p, true); err != nil && !IsNotFound(err) {
		errs = append(errs, fmt.Errorf("faults: enable proxy %s: %w", p.Name, err))
	}
	return errors.Join(errs...)
}
