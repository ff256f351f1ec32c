package target

import (
	"context"
	"fmt"
	"net/url"

	"github.com/gitchaos/gitchaos/harness/probe"
)

// URL is a server the harness did not start (a real OPAL server, say):
// every New returns the same server, settings are what the user states,
// and metrics come from PID (when > 0) and the stats endpoint when present.
type URL struct {
	BaseURL string   // http://host:port
	PID     int      // the server's process id on this machine, 0 if unknown
	BaseDir string   // the server's data dir on this machine ("" if unknown): clone-dir and disk checks need it
	Token   string   // bearer token
	Stated  Settings // the settings the server runs with, as the user states them

	// WatchDirs are more dirs whose disk use counts as the server's (its
	// temp dir, say): the disk metric and "partial clone data removed"
	// watch them with the base dir.
	WatchDirs []string
}

// Describe implements Factory.
func (f *URL) Describe() string {
	if f.PID > 0 {
		return fmt.Sprintf("url %s (pid %d)", f.BaseURL, f.PID)
	}
	return "url " + f.BaseURL
}

// Fresh implements Factory: a URL target keeps its state between scenarios.
func (f *URL) Fresh() bool { return false }

// Validate reports what is wrong with the URL target.
func (f *URL) Validate() error {
	u, err := url.Parse(f.BaseURL)
	if err != nil {
		return fmt.Errorf("url target: %q: %w", f.BaseURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url target: %q: want http(s)://host:port", f.BaseURL)
	}
	return f.Stated.Validate()
}

// New implements Factory. The requested settings are ignored: the server
// runs with what it runs with, and budgets use the stated settings.
func (f *URL) New(ctx context.Context, _ Settings) (Target, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	c := &Client{BaseURL: f.BaseURL, Token: f.Token}
	if _, err := c.Health(ctx); err != nil {
		return nil, fmt.Errorf("url target: %w", err)
	}
	sp := probeSpec{pid: f.PID, dirs: f.dirs()}
	if f.PID <= 0 {
		sp.noPID = "url target without --target-pid: its processes are not measured"
	}
	p, err := newProbe(c, sp)
	if err != nil {
		return nil, err
	}
	return &urlTarget{f: f, client: c, probe: p}, nil
}

// dirs are the base dir and the watched dirs.
func (f *URL) dirs() []string {
	var out []string
	if f.BaseDir != "" {
		out = append(out, f.BaseDir)
	}
	return append(out, f.WatchDirs...)
}

type urlTarget struct {
	f      *URL
	client *Client
	probe  probe.Source
}

func (t *urlTarget) Describe() string    { return t.f.Describe() }
func (t *urlTarget) Client() *Client     { return t.client }
func (t *urlTarget) Settings() Settings  { return t.f.Stated }
func (t *urlTarget) Probe() probe.Source { return t.probe }
func (t *urlTarget) BaseDir() string     { return t.f.BaseDir }
func (t *urlTarget) InProcess() bool     { return false }
func (t *urlTarget) Restart(context.Context, bool) error {
	return fmt.Errorf("restart %s: %w (the harness did not start it)", t.f.BaseURL, ErrUnsupported)
}
func (t *urlTarget) Close() error {
	t.client.CloseIdleConnections()
	closeProbe(t.probe)
	return nil
}
