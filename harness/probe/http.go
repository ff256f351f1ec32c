package probe

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gitchaos/gitchaos/harness/metric"
)

// HTTPOptions configure an HTTPStats source.
type HTTPOptions struct {
	// Client to use; nil means a private client with keep-alives, so
	// sampling holds one steady connection instead of churning sockets
	// (which would show as fd noise in the target).
	Client *http.Client
	// Timeout per request: 0 means 2s.
	Timeout time.Duration
}

type httpSource struct {
	url     string
	client  *http.Client
	own     bool
	timeout time.Duration
}

// MaxStatsBody is the largest stats answer read; a larger one is an error.
const MaxStatsBody = 4 << 20

// HTTPStats reads a JSON stats endpoint such as OPAL's
// /internal/git-fetcher-cache-stats. Every numeric key becomes a metric
// under its own name (nested objects flatten to "a.b"); booleans are 0/1.
// rss_kb also yields rss_bytes when the endpoint has no rss_bytes (a
// row's StatsFrom in harness/metric), and a "goroutines" key is the
// goroutines metric. Heap and goroutines that the endpoint lacks are
// reported unavailable.
func HTTPStats(rawURL string, opts HTTPOptions) (Source, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("probe: stats url %q: %w", rawURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("probe: stats url %q: want http(s)://host/path", rawURL)
	}
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("probe: stats url %q: timeout %v: want >= 0", rawURL, opts.Timeout)
	}
	t := opts.Timeout
	if t == 0 {
		t = 2 * time.Second
	}
	s := &httpSource{url: rawURL, client: opts.Client, timeout: t}
	if s.client == nil {
		s.client = &http.Client{Timeout: t, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		s.own = true
	}
	return s, nil
}

func (s *httpSource) Name() string { return s.url }

// Close releases the source's idle connection (only when it owns its client).
func (s *httpSource) Close() error {
	if s.own {
		s.client.CloseIdleConnections()
	}
	return nil
}

func (s *httpSource) Sample(ctx context.Context) (Sample, error) {
	// The deadline holds for a caller's client too, body included.
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return Sample{}, fmt.Errorf("probe: stats %s: %w", s.url, err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return Sample{}, fmt.Errorf("probe: stats %s: %w", s.url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxStatsBody+1))
	if err != nil {
		return Sample{}, fmt.Errorf("probe: stats %s: read body (after %d bytes, deadline %v): %w", s.url, len(body), s.timeout, err)
	}
	if len(body) > MaxStatsBody {
		return Sample{}, fmt.Errorf("probe: stats %s: answer larger than %d bytes: not read", s.url, MaxStatsBody)
	}
	if resp.StatusCode != http.StatusOK {
		return Sample{}, fmt.Errorf("probe: stats %s: status %s: %.200s", s.url, resp.Status, body)
	}
	smp := newSample()
	if err := ParseStats(body, s.url, &smp); err != nil {
		return Sample{}, fmt.Errorf("probe: stats %s: %w", s.url, err)
	}
	smp.Time = time.Now()
	return smp, nil
}

// ParseStats adds the numeric keys of a JSON object to smp as metrics
// from origin (see HTTPStats for the mapping).
func ParseStats(body []byte, origin string, smp *Sample) error {
	if smp.Values == nil {
		smp.Values = map[string]float64{}
	}
	if smp.Unavailable == nil {
		smp.Unavailable = map[string]string{}
	}
	if smp.Origin == nil {
		smp.Origin = map[string]string{}
	}
	var obj map[string]any
	if err := json.Unmarshal(body, &obj); err != nil {
		return fmt.Errorf("parse stats JSON (want an object): %w", err)
	}
	flatten("", obj, origin, smp)
	for _, r := range metric.All() {
		if r.StatsFrom == nil {
			continue
		}
		if v, ok := smp.Values[r.StatsFrom.Key]; ok {
			if _, has := smp.Values[r.Name]; !has {
				smp.set(r.Name, v*r.StatsFrom.Scale, origin+" (from "+r.StatsFrom.Key+")")
			}
		}
	}
	for _, m := range insideOnly() {
		if _, why := smp.Unavailable[m]; !why {
			smp.unavailable(m, origin+": no "+m+" key in the stats endpoint")
		}
	}
	return nil
}

func flatten(prefix string, obj map[string]any, origin string, smp *Sample) {
	for k, v := range obj {
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		switch x := v.(type) {
		case float64:
			smp.set(name, x, origin)
		case bool:
			b := 0.0
			if x {
				b = 1
			}
			smp.set(name, b, origin)
		case map[string]any:
			flatten(name, x, origin, smp)
		default:
			// A metric of the wrong type is not measured, and says why:
			// a known metric, or a number sent as a string. (Other
			// strings, lists and nulls are descriptive, not metrics.)
			str, isStr := v.(string)
			_, numErr := strconv.ParseFloat(str, 64)
			if knownMetric(name) || (isStr && numErr == nil) {
				smp.unavailable(name, fmt.Sprintf("%s: key %q is JSON %s, want a number", origin, name, jsonType(v)))
			}
		}
	}
}

// knownMetric reports whether harness/metric's table says a stats
// endpoint may carry the metric.
func knownMetric(name string) bool {
	r, ok := metric.Lookup(name)
	return ok && r.ReadBy(metric.Stats)
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}
