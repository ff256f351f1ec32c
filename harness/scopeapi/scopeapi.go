// Package scopeapi is the contract of the OPAL-compatible scopes API that
// both of its sides hold to: the JSON bodies of its routes (the scope that
// PUT /scopes takes and GET /scopes answers), declared once for the
// reference fetcher (harness/fetcher), which serves them, and the
// harness's client (harness/target), which sends them; and the limits of
// the settings a scopes server runs with (settings.go), checked the same
// way by the CLI, suite files, a Go test's options and the fetcher's
// config.
//
// It is a leaf: it imports only the standard library, so neither side
// links the other.
package scopeapi

import "encoding/json"

// Scope is an OPAL scope as PUT /scopes takes it and GET /scopes answers.
type Scope struct {
	ScopeID string `json:"scope_id"`
	Policy  Policy `json:"policy"`
	Data    Data   `json:"data"`
}

// Policy is a scope's git policy source.
type Policy struct {
	SourceType  string   `json:"source_type"`
	URL         string   `json:"url"`
	Branch      string   `json:"branch"`
	Directories []string `json:"directories"`
	Extensions  []string `json:"extensions"`
	Manifest    string   `json:"manifest"`
	PollUpdates bool     `json:"poll_updates"`
	Auth        Auth     `json:"auth"`
}

// Auth is the policy source's git auth: "none", or "ssh" with OPAL's
// SSHAuthData fields (username, private_key in PEM, public_key).
type Auth struct {
	AuthType   string `json:"auth_type"`
	Username   string `json:"username,omitempty"`
	PrivateKey string `json:"private_key,omitempty"`
	PublicKey  string `json:"public_key,omitempty"`
}

// Data is the scope's data section: its entries are kept as sent, not
// interpreted.
type Data struct {
	Entries []json.RawMessage `json:"entries"`
}
