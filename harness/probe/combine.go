package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

type combined struct{ sources []Source }

// Combine samples several sources in order into one sample, e.g.
// Combine(pidSrc, statsSrc, dirSrc) for an external server. A later
// source's measured value replaces an earlier one (except that a value
// derived from another key, such as rss_bytes from rss_kb, never replaces
// a direct measurement); an unavailable metric never replaces a measured
// one. Sample.Origin records which source gave each metric. A failing
// source is named in SourceErrors; the sample fails only if all fail.
func Combine(sources ...Source) (Source, error) {
	if len(sources) == 0 {
		return nil, errors.New("probe: combine: no sources")
	}
	for i, s := range sources {
		if s == nil {
			return nil, fmt.Errorf("probe: combine: source %d is nil", i)
		}
	}
	return &combined{sources: sources}, nil
}

func (c *combined) Name() string {
	names := make([]string, len(c.sources))
	for i, s := range c.sources {
		names[i] = s.Name()
	}
	return strings.Join(names, " + ")
}

// Close closes every source that is an io.Closer.
func (c *combined) Close() error {
	var errs []error
	for _, s := range c.sources {
		if cl, ok := s.(io.Closer); ok {
			errs = append(errs, cl.Close())
		}
	}
	return errors.Join(errs...)
}

func (c *combined) Sample(ctx context.Context) (Sample, error) {
	out := newSample()
	var errs []error
	reasons := map[string][]string{}
	for _, s := range c.sources {
		smp, err := s.Sample(ctx)
		if err != nil {
			errs = append(errs, err)
			if out.SourceErrors == nil {
				out.SourceErrors = map[string]string{}
			}
			out.SourceErrors[s.Name()] = err.Error()
			continue
		}
		for k, v := range smp.Values {
			origin := smp.Origin[k]
			if origin == "" {
				origin = s.Name()
			}
			if _, had := out.Values[k]; had && isDerived(origin) && !isDerived(out.Origin[k]) {
				continue
			}
			out.Values[k] = v
			out.Origin[k] = origin
		}
		for k, why := range smp.Unavailable {
			reasons[k] = append(reasons[k], why)
		}
	}
	if len(errs) == len(c.sources) {
		return Sample{}, fmt.Errorf("probe: combine: every source failed: %w", errors.Join(errs...))
	}
	for k, rs := range reasons {
		if _, ok := out.Values[k]; !ok {
			out.Unavailable[k] = strings.Join(rs, "; ")
		}
	}
	out.Time = time.Now()
	return out, nil
}

func isDerived(origin string) bool { return strings.Contains(origin, " (from ") }
