package target

import (
	"encoding/json"
	"testing"
)

// TestNewScopeJSON: the PUT /scopes body is byte for byte what it was
// when the client declared its own copy of the scope structs (OPAL's
// field names and order, an empty entries list rather than null).
func TestNewScopeJSON(t *testing.T) {
	b, err := json.Marshal(NewScope("s1", "http://h/r.git", "main"))
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"scope_id":"s1","policy":{"source_type":"git","url":"http://h/r.git","branch":"main","directories":["."],"extensions":[".rego",".json"],"manifest":".manifest","poll_updates":false,"auth":{"auth_type":"none"}},"data":{"entries":[]}}`
	if string(b) != want {
		t.Errorf("NewScope JSON:\n got %s\nwant %s", b, want)
	}
}
