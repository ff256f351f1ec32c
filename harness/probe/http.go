package probe

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
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
	url    string
	client *http.Client
	own    bool
}

// HTTPStats reads a JSON stats endpoint such as OPAL's
// /internal/git-fetcher-cache-stats. Every numeric key becomes a metric
// under its own name (nested objects flatten to "a.b"); booleans are 0/1.
// rss_kb also yields rss_bytes when the endpoint has no rss_bytes, and a
// "goroutines" key is the goroutines metric. Heap and goroutines that the
// endpoint lacks are reported unavailable.
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
	s := &httpSource{url: rawURL, client: opts.Client}
	if s.client == nil {
		t := opts.Timeout
		if t == 0 {
			t = 2 * time.Second
		}
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return Sample{}, fmt.Errorf("probe: stats %s: %w", s.url, err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return Sample{}, fmt.Errorf("probe: stats %s: %w", s.url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return Sample{}, fmt.Errorf("probe: stats %s: read body: %w", s.url, err)
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
	if kb, ok := smp.Values["rss_kb"]; ok {
		if _, has := smp.Values[RSS]; !has {
			smp.set(RSS, kb*1024, origin+" (from rss_kb)")
		}
	}
	for _, m := range []string{Heap, Goroutines} {
		smp.unavailable(m, origin+": no "+m+" key in the stats endpoint")
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
		}
	}
}
