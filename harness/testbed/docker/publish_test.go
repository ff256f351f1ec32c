package docker

import (
	"context"
	"strings"
	"testing"

	"github.com/gitchaos/gitchaos/harness/testbed"
)

// TestPublishAddr: GITCHAOS_DOCKER_PUBLISH picks the engine-side address
// ports are published on (default 127.0.0.1); a value that is no IP is
// refused by name before anything starts.
func TestPublishAddr(t *testing.T) {
	t.Setenv(PublishEnv, "")
	if a, err := publishAddr(); err != nil || a.String() != "127.0.0.1" {
		t.Fatalf("default publish address %v, %v; want 127.0.0.1", a, err)
	}
	t.Setenv(PublishEnv, "0.0.0.0")
	if a, err := publishAddr(); err != nil || a.String() != "0.0.0.0" {
		t.Fatalf("publish address %v, %v; want 0.0.0.0", a, err)
	}
	t.Setenv(PublishEnv, "build-box")
	_, err := New(context.Background(), testbed.Options{Hosts: 1})
	if err == nil || !strings.Contains(err.Error(), PublishEnv) || !strings.Contains(err.Error(), `"build-box"`) {
		t.Fatalf("New with %s=build-box: %v, want an error naming the variable and value", PublishEnv, err)
	}
}
