package target

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client speaks the OPAL-compatible scopes API of DESIGN.md.
type Client struct {
	BaseURL string       // http://host:port, no trailing slash
	Token   string       // bearer token, if the target wants one
	HTTP    *http.Client // nil: a client with a 10 s timeout
}

// Scope is the PUT /scopes body.
type Scope struct {
	ScopeID string      `json:"scope_id"`
	Policy  ScopePolicy `json:"policy"`
	Data    ScopeData   `json:"data"`
}

// ScopePolicy is a scope's git policy source.
type ScopePolicy struct {
	SourceType  string    `json:"source_type"`
	URL         string    `json:"url"`
	Branch      string    `json:"branch"`
	Directories []string  `json:"directories"`
	Extensions  []string  `json:"extensions"`
	Manifest    string    `json:"manifest"`
	PollUpdates bool      `json:"poll_updates"`
	Auth        ScopeAuth `json:"auth"`
}

// ScopeAuth is the scope's git auth (always none here).
type ScopeAuth struct {
	AuthType string `json:"auth_type"`
}

// ScopeData is the scope's data section.
type ScopeData struct {
	Entries []any `json:"entries"`
}

// NewScope is a git scope for url on branch with OPAL's usual defaults.
func NewScope(id, repoURL, branch string) Scope {
	return Scope{
		ScopeID: id,
		Policy: ScopePolicy{
			SourceType: "git", URL: repoURL, Branch: branch,
			Directories: []string{"."}, Extensions: []string{".rego", ".json"},
			Manifest: ".manifest", Auth: ScopeAuth{AuthType: "none"},
		},
		Data: ScopeData{Entries: []any{}},
	}
}

// Bundle is the GET /scopes/{id}/policy body (the fields gitchaos reads).
type Bundle struct {
	Manifest       []string `json:"manifest"`
	Hash           string   `json:"hash"`
	PolicyModules  []any    `json:"policy_modules"`
	DataModules    []any    `json:"data_modules"`
	DeletedModules any      `json:"deleted,omitempty"`
}

// StatusError is a non-2xx answer.
type StatusError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.Path, e.Status, strings.TrimSpace(e.Body))
}

// IsStatus reports whether err is a StatusError with that status.
func IsStatus(err error, status int) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status == status
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTP
}

var defaultHTTP = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 5 * time.Second}}

// CloseIdleConnections closes the client's idle keep-alive connections, so
// connection goroutines and fds don't count against a settle.
func (c *Client) CloseIdleConnections() { c.httpClient().CloseIdleConnections() }

// Do sends a request and decodes a JSON answer into out (nil: discard).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: encode body: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return &StatusError{Method: method, Path: path, Status: resp.StatusCode, Body: string(b)}
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// PutScope creates or replaces a scope.
func (c *Client) PutScope(ctx context.Context, s Scope) error {
	return c.Do(ctx, http.MethodPut, "/scopes", s, nil)
}

// DeleteScope deletes a scope.
func (c *Client) DeleteScope(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodDelete, "/scopes/"+url.PathEscape(id), nil, nil)
}

// Scopes lists scope ids.
func (c *Client) Scopes(ctx context.Context) ([]string, error) {
	var raw []json.RawMessage
	if err := c.Do(ctx, http.MethodGet, "/scopes", nil, &raw); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(raw))
	for _, r := range raw {
		var s struct {
			ScopeID string `json:"scope_id"`
		}
		if err := json.Unmarshal(r, &s); err != nil {
			return nil, fmt.Errorf("GET /scopes: decode scope: %w", err)
		}
		ids = append(ids, s.ScopeID)
	}
	return ids, nil
}

// Scope fetches one scope; a 404 is a *StatusError.
func (c *Client) Scope(ctx context.Context, id string) (map[string]any, error) {
	var out map[string]any
	err := c.Do(ctx, http.MethodGet, "/scopes/"+url.PathEscape(id), nil, &out)
	return out, err
}

// RefreshAll asks for a re-sync of every scope.
func (c *Client) RefreshAll(ctx context.Context) error {
	return c.Do(ctx, http.MethodPost, "/scopes/refresh", nil, nil)
}

// Refresh asks for a re-sync of one scope.
func (c *Client) Refresh(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodPost, "/scopes/"+url.PathEscape(id)+"/refresh", nil, nil)
}

// Policy fetches a scope's bundle.
func (c *Client) Policy(ctx context.Context, id string) (Bundle, error) {
	var b Bundle
	err := c.Do(ctx, http.MethodGet, "/scopes/"+url.PathEscape(id)+"/policy", nil, &b)
	return b, err
}

// Health fetches /healthcheck; the body's numeric keys are returned.
func (c *Client) Health(ctx context.Context) (map[string]any, error) {
	out := map[string]any{}
	err := c.Do(ctx, http.MethodGet, "/healthcheck", nil, &out)
	return out, err
}

// StatsPath is OPAL's test endpoint for the fetcher caches.
const StatsPath = "/internal/git-fetcher-cache-stats"

// Stats fetches the cache stats; numeric keys only.
func (c *Client) Stats(ctx context.Context) (map[string]float64, error) {
	raw := map[string]any{}
	if err := c.Do(ctx, http.MethodGet, StatsPath, nil, &raw); err != nil {
		return nil, err
	}
	out := make(map[string]float64, len(raw))
	for k, v := range raw {
		if f, ok := v.(float64); ok {
			out[k] = f
		}
	}
	return out, nil
}
