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

	"github.com/gitchaos/gitchaos/harness/scopeapi"
)

// Client speaks the OPAL-compatible scopes API of DESIGN.md. It assumes
// nothing of the server: every request has a deadline (also with a
// caller's HTTP client), answers are read up to a size bound, and an answer
// of the wrong shape is an error naming the request and the JSON field
// (DecodeError), never a panic or a hang.
type Client struct {
	BaseURL string        // http://host:port, no trailing slash
	Token   string        // bearer token, if the target wants one
	HTTP    *http.Client  // nil: a shared client with keep-alives
	Timeout time.Duration // per request, answer body included (0: DefaultTimeout)
	MaxBody int64         // largest answer body read (0: DefaultMaxBody)
}

// Defaults of Client.
const (
	DefaultTimeout = 10 * time.Second
	DefaultMaxBody = 64 << 20
)

// DecodeError is an answer that is not the JSON the route promises.
type DecodeError struct {
	Method, Path string
	Field        string // JSON path of the offending value ("" = the whole body)
	Got, Want    string // JSON type found, Go type wanted ("" when the JSON is malformed)
	Offset       int64  // byte offset in the body
	Err          error
}

func (e *DecodeError) Error() string {
	where := "answer"
	if e.Field != "" {
		where = fmt.Sprintf("field %q", e.Field)
	}
	if e.Got != "" {
		return fmt.Sprintf("%s %s: %s: got JSON %s, want %s (byte %d)", e.Method, e.Path, where, e.Got, e.Want, e.Offset)
	}
	return fmt.Sprintf("%s %s: %s is not valid JSON: %v", e.Method, e.Path, where, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// decode unmarshals an answer of method path into out, naming the field
// and types on a type mismatch. prefix is prepended to field names (for
// elements of a list decoded one by one).
func decode(method, path, prefix string, b []byte, out any) error {
	err := json.Unmarshal(b, out)
	if err == nil {
		return nil
	}
	de := &DecodeError{Method: method, Path: path, Field: prefix, Err: err}
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		if te.Field != "" {
			de.Field = strings.TrimPrefix(prefix+"."+te.Field, ".")
		}
		de.Got, de.Want, de.Offset = te.Value, te.Type.String(), te.Offset
	case errors.As(err, &se):
		de.Offset = se.Offset
	}
	return de
}

// NewScope is a git scope for url on branch with OPAL's usual defaults.
func NewScope(id, repoURL, branch string) scopeapi.Scope {
	return scopeapi.Scope{
		ScopeID: id,
		Policy: scopeapi.Policy{
			SourceType: "git", URL: repoURL, Branch: branch,
			Directories: []string{"."}, Extensions: []string{".rego", ".json"},
			Manifest: ".manifest", Auth: scopeapi.Auth{AuthType: "none"},
		},
		Data: scopeapi.Data{Entries: []json.RawMessage{}},
	}
}

// Bundle is the GET /scopes/{id}/policy body (the fields gitchaos reads).
type Bundle struct {
	Manifest      []string `json:"manifest"`
	Hash          string   `json:"hash"`
	PolicyModules []any    `json:"policy_modules"`
	DataModules   []any    `json:"data_modules"`
	DeletedFiles  any      `json:"deleted_files,omitempty"` // OPAL's PolicyBundle.deleted_files
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
// The request, body included, gets c.Timeout; an answer body larger than
// c.MaxBody is an error, not a truncated decode.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
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
	if method == http.MethodPut || method == http.MethodDelete {
		// PUT and DELETE of a scope are idempotent: let the transport send
		// one again on a fresh connection when a kept-alive one turns out
		// closed by the server (uvicorn closes idle ones after 5 s; a
		// request racing that close reads "connection reset by peer"). A
		// nil value marks the request replayable without sending the header.
		req.Header["X-Idempotency-Key"] = nil
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, deadlineErr(parent, err, timeout))
	}
	defer resp.Body.Close()
	limit := c.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fmt.Errorf("%s %s: HTTP %d: read body (after %d bytes): %w", method, path, resp.StatusCode, len(b), deadlineErr(parent, err, timeout))
	}
	if int64(len(b)) > limit {
		return fmt.Errorf("%s %s: HTTP %d: answer body larger than %d bytes: not read", method, path, resp.StatusCode, limit)
	}
	if resp.StatusCode/100 != 2 {
		if len(b) > 2000 {
			b = append(b[:2000:2000], "..."...)
		}
		return &StatusError{Method: method, Path: path, Status: resp.StatusCode, Body: string(b)}
	}
	if out != nil && len(b) > 0 {
		return decode(method, path, "", b, out)
	}
	return nil
}

// deadlineErr says "no complete answer within d" for a request cut by its
// own deadline (not by the caller's context ending first).
func deadlineErr(parent context.Context, err error, d time.Duration) error {
	switch {
	case parent.Err() != nil:
		return fmt.Errorf("stopped by the caller (%v) before a complete answer: %w", context.Cause(parent), err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no complete answer within the %v request deadline: %w", d, err)
	}
	return err
}

// PutScope creates or replaces a scope.
func (c *Client) PutScope(ctx context.Context, s scopeapi.Scope) error {
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
	for i, r := range raw {
		var s struct {
			ScopeID string `json:"scope_id"`
		}
		if err := decode(http.MethodGet, "/scopes", fmt.Sprintf("[%d]", i), r, &s); err != nil {
			return nil, err
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
