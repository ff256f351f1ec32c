package target

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// bodyTransport answers every request with 200 and body: the client's
// whole answer path (limit, status, decode) without a socket per input.
type bodyTransport []byte

func (b bodyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   io.NopCloser(bytes.NewReader(b)), ContentLength: int64(len(b)), Request: r,
	}, nil
}

// fuzzRoute decodes body as route's answer: it must not panic, and an
// error must be a *DecodeError naming the request (or the size bound).
func fuzzRoute(f *testing.F, path string, seeds []string, call func(context.Context, *Client) error) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		c := &Client{BaseURL: "http://target.invalid", HTTP: &http.Client{Transport: bodyTransport(body)}, MaxBody: 1 << 16}
		err := call(context.Background(), c)
		if err == nil {
			return
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("error %q does not name %s", err, path)
		}
		var de *DecodeError
		if !errors.As(err, &de) && !strings.Contains(err.Error(), "larger than") {
			t.Errorf("error %q (%T) is neither a DecodeError nor the size bound", err, err)
		}
	})
}

func FuzzScopesAnswer(f *testing.F) {
	fuzzRoute(f, "GET /scopes", []string{`[]`, `[{"scope_id":"s1"}]`, `[{"scope_id":1}]`, `{}`, `[null]`, `[`},
		func(ctx context.Context, c *Client) error { _, err := c.Scopes(ctx); return err })
}

func FuzzScopeAnswer(f *testing.F) {
	fuzzRoute(f, "GET /scopes/s1", []string{`{"scope_id":"s1","policy":{"url":"u"}}`, `[]`, `"x"`, `null`},
		func(ctx context.Context, c *Client) error { _, err := c.Scope(ctx, "s1"); return err })
}

func FuzzPolicyAnswer(f *testing.F) {
	fuzzRoute(f, "GET /scopes/s1/policy", []string{
		`{"manifest":["a.rego"],"hash":"abc","policy_modules":[{"path":"a.rego","package_name":"a","rego":"package a"}],"data_modules":[]}`,
		`{"manifest":"a","hash":1}`, `{"deleted":{"policy_modules":["x"]}}`, `[]`, `{"manifest":[1]}`,
	}, func(ctx context.Context, c *Client) error { _, err := c.Policy(ctx, "s1"); return err })
}

func FuzzHealthAnswer(f *testing.F) {
	fuzzRoute(f, "GET /healthcheck", []string{`{"status":"ok"}`, `{}`, `[]`, `1e999`, `"ok"`},
		func(ctx context.Context, c *Client) error { _, err := c.Health(ctx); return err })
}

func FuzzStatsAnswer(f *testing.F) {
	fuzzRoute(f, "GET "+StatsPath, []string{`{"repos":3,"in_flight":0,"rss_kb":1024}`, `{"a":"x","b":null,"c":[1]}`, `[]`, `{"a":{"b":1}}`},
		func(ctx context.Context, c *Client) error { _, err := c.Stats(ctx); return err })
}
