package fetcher

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/gitchaos/gitchaos/harness/scopeapi"
)

// ErrBadInput marks a validation error (HTTP 400/422).
var ErrBadInput = errors.New("bad input")

var scopeIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// validateScope checks a scope and fills defaults in place.
func (f *Fetcher) validateScope(sc *scopeapi.Scope) error {
	var errs []error
	if !scopeIDRe.MatchString(sc.ScopeID) || strings.Contains(sc.ScopeID, "..") {
		errs = append(errs, fmt.Errorf("scope_id %q: must match %s and contain no '..'", sc.ScopeID, scopeIDRe))
	}
	p := &sc.Policy
	if p.SourceType == "" {
		p.SourceType = "git"
	}
	if p.SourceType != "git" {
		errs = append(errs, fmt.Errorf("policy.source_type %q: only \"git\" is supported", p.SourceType))
	}
	if err := validateURL(p.URL, f.cfg.AllowFileURLs); err != nil {
		errs = append(errs, fmt.Errorf("policy.url: %w", err))
	}
	if p.Branch == "" {
		p.Branch = "main"
	}
	if err := plumbing.NewBranchReferenceName(p.Branch).Validate(); err != nil || strings.HasPrefix(p.Branch, "-") {
		errs = append(errs, fmt.Errorf("policy.branch %q: not a valid branch name", p.Branch))
	}
	if len(p.Directories) == 0 {
		p.Directories = []string{"."}
	}
	for _, d := range p.Directories {
		c := filepath.ToSlash(filepath.Clean(d))
		if filepath.IsAbs(d) || c == ".." || strings.HasPrefix(c, "../") {
			errs = append(errs, fmt.Errorf("policy.directories: %q escapes the repository", d))
		}
	}
	if len(p.Extensions) == 0 {
		p.Extensions = []string{".rego", ".json"}
	}
	if p.Manifest == "" {
		p.Manifest = ".manifest"
	}
	if p.Auth.AuthType == "" {
		p.Auth.AuthType = "none"
	}
	switch p.Auth.AuthType {
	case "none":
	case "ssh":
		if err := validateSSHAuth(p.Auth, p.URL); err != nil {
			errs = append(errs, err)
		}
	default:
		errs = append(errs, fmt.Errorf("policy.auth.auth_type %q: only \"none\" and \"ssh\" are supported", p.Auth.AuthType))
	}
	if sc.Data.Entries == nil {
		sc.Data.Entries = nil
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	return nil
}

func validateURL(raw string, allowFile bool) error {
	if raw == "" {
		return errors.New("required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q: %w", raw, err)
	}
	switch u.Scheme {
	case "http", "https", "git", "ssh":
		if u.Host == "" {
			return fmt.Errorf("%q: no host", raw)
		}
	case "file":
		if !allowFile {
			return fmt.Errorf("%q: file:// sources are not allowed (enable AllowFileURLs / --allow-file-urls)", raw)
		}
		if u.Path == "" {
			return fmt.Errorf("%q: no path", raw)
		}
	default:
		return fmt.Errorf("%q: scheme %q not allowed (http, https, git, ssh%s)", raw, u.Scheme, map[bool]string{true: ", file"}[allowFile])
	}
	return nil
}

// sourceID is sha256(url) hex + "-" + (first byte of sha256(branch) mod shards).
func sourceID(rawURL, branch string, shards int) string {
	u := sha256.Sum256([]byte(rawURL))
	b := sha256.Sum256([]byte(branch))
	return hex.EncodeToString(u[:]) + "-" + strconv.Itoa(int(b[0])%shards)
}

// hostOf is the host:port a URL's git operations go to ("local" for file).
func hostOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return "local"
	}
	if u.Port() != "" {
		return u.Host
	}
	switch u.Scheme {
	case "https":
		return u.Host + ":443"
	case "http":
		return u.Host + ":80"
	case "git":
		return u.Host + ":9418"
	case "ssh":
		return u.Host + ":22"
	}
	return u.Host
}

// source is one clone dir: every scope whose url and branch shard resolve
// to the same id shares it. A deleted source is never revived: a new scope
// for the same id makes a new source.
type source struct {
	id      string
	url     string
	host    string
	dir     string
	auth    transport.AuthMethod // nil: none (scopes sharing the source share the first one's)
	deleted atomic.Bool          // set when its last scope goes
	active  atomic.Int64         // git operations running on it now

	flightMu   sync.Mutex
	flight     *flight // the guarded operation running now, nil when idle
	lastFailed bool    // whether a git operation failed in the last flight that ended
}

// flight is one guarded git operation on a source.
type flight struct {
	started time.Time
	cancel  context.CancelFunc
	done    chan struct{} // closed when it ends
	holds   int           // the caller plus operations outliving it; guarded by source.flightMu
	failed  bool          // a git operation in it failed; guarded by source.flightMu
}

// markFailed records that a git operation of the source's running flight
// failed (its waiters then only read the clone it left).
func (s *source) markFailed() {
	s.flightMu.Lock()
	defer s.flightMu.Unlock()
	if s.flight != nil {
		s.flight.failed = true
	}
}

// waitFlight waits for the source's running operation (if any) to end
// and reports whether a git operation failed in it (in the last one that
// ended, when none runs); ended is false if ctx ended first.
func (s *source) waitFlight(ctx context.Context) (ended, failed bool) {
	s.flightMu.Lock()
	fl := s.flight
	if fl == nil {
		failed = s.lastFailed
	}
	s.flightMu.Unlock()
	if fl == nil {
		return true, failed
	}
	select {
	case <-fl.done:
		s.flightMu.Lock()
		defer s.flightMu.Unlock()
		return true, fl.failed
	case <-ctx.Done():
		return false, false
	}
}

// cancelFlight cancels the source's running operation, if any.
func (s *source) cancelFlight() {
	s.flightMu.Lock()
	defer s.flightMu.Unlock()
	if s.flight != nil {
		s.flight.cancel()
	}
}

// scope status values.
const (
	statusPending = "pending"
	statusReady   = "ready"
	statusFailed  = "failed"
)

// scopeState is a scope with its sync state. Fields after scope are
// guarded by Fetcher.mu.
type scopeState struct {
	scope    scopeapi.Scope
	sid      string
	status   string
	reason   string
	head     string // the scope's tracked commit ("" until first sync)
	syncedAt time.Time
}

// ScopeStatus is a scope's sync state as the API reports it.
type ScopeStatus struct {
	Status   string    `json:"status"` // pending, ready, failed
	Reason   string    `json:"reason,omitempty"`
	Head     string    `json:"head,omitempty"`
	SourceID string    `json:"source_id"`
	SyncedAt time.Time `json:"synced_at,omitzero"`
}

func (s *scopeState) statusLocked() ScopeStatus {
	return ScopeStatus{Status: s.status, Reason: s.reason, Head: s.head, SourceID: s.sid, SyncedAt: s.syncedAt}
}

// addScopeLocked registers (or replaces) a validated scope; the caller holds
// no lock. It returns the scope's state.
func (f *Fetcher) addScopeLocked(sc scopeapi.Scope) (*scopeState, error) {
	if err := f.validateScope(&sc); err != nil {
		return nil, err
	}
	sid := sourceID(sc.Policy.URL, sc.Policy.Branch, f.cfg.Shards)
	auth, err := f.sourceAuth(sc.Policy)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st := &scopeState{scope: sc, sid: sid, status: statusPending}
	if old, ok := f.scopes[sc.ScopeID]; ok && old.sid == sid {
		st.head = old.head
		st.status, st.reason, st.syncedAt = old.status, old.reason, old.syncedAt
	}
	f.scopes[sc.ScopeID] = st
	if _, ok := f.sources[sid]; !ok {
		f.sources[sid] = &source{
			id:   sid,
			url:  sc.Policy.URL,
			host: hostOf(sc.Policy.URL),
			dir:  filepath.Join(f.cfg.BaseDir, "git_sources", sid),
			auth: auth,
		}
		f.caches.pin(sid)
	}
	return st, nil
}

// ScopeStatus returns a scope's sync state.
func (f *Fetcher) ScopeStatus(id string) (ScopeStatus, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.scopes[id]
	if !ok {
		return ScopeStatus{}, false
	}
	return st.statusLocked(), true
}

// SourceID is the source id (clone dir name) of a url and branch under this
// fetcher's shard count.
func (f *Fetcher) SourceID(rawURL, branch string) string {
	return sourceID(rawURL, branch, f.cfg.Shards)
}
