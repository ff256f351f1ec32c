// Package dockertest starts docker testbeds for tests: it skips the test
// with a clear message when no Docker engine answers — unless
// GITCHAOS_REQUIRE_DOCKER=1 (set by .ci/run), which fails it instead, so CI
// never silently skips docker tests — and on cleanup closes the testbed and
// fails the test if any container or network of the run is left.
package dockertest

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/harness/testbed"
	"github.com/gitchaos/gitchaos/harness/testbed/docker"
)

// RequireEnv is the environment variable that turns a missing engine from a
// skip into a failure when set to "1".
const RequireEnv = "GITCHAOS_REQUIRE_DOCKER"

// Required reports whether RequireEnv is "1".
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// RequireEngine skips tb (or fails it under GITCHAOS_REQUIRE_DOCKER=1)
// when no Docker engine answers a ping.
func RequireEngine(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cli, err := docker.Client(ctx)
	if err != nil {
		NoEngine(tb, err)
		return
	}
	cli.Close()
}

// NoEngine skips or fails tb for err, a missing-engine error.
func NoEngine(tb testing.TB, err error) {
	tb.Helper()
	if Required() {
		tb.Fatalf("docker engine required (%s=1) but not usable: %v", RequireEnv, err)
		return
	}
	tb.Skipf("skipping docker test: %v (set %s=1 to fail instead of skipping)", err, RequireEnv)
}

// New starts a docker testbed for tb, skipping or failing as RequireEngine
// does when there is no engine. Cleanup closes it and fails tb if Close
// errs or anything labelled with the run's id is left.
func New(tb testing.TB, ctx context.Context, opts testbed.Options) *docker.Testbed {
	tb.Helper()
	RequireEngine(tb)
	tbd, err := docker.NewWithOptions(ctx, opts, docker.Options{})
	if err != nil {
		if errors.Is(err, docker.ErrNoEngine) {
			NoEngine(tb, err)
			return nil
		}
		tb.Fatalf("start docker testbed: %v", err)
	}
	tb.Cleanup(func() { CloseAndCheck(tb, tbd) })
	return tbd
}

// CloseAndCheck closes the testbed and fails tb if that errs or leaves any
// container or network labelled with its run id.
func CloseAndCheck(tb testing.TB, tbd *docker.Testbed) {
	tb.Helper()
	if err := tbd.Close(); err != nil {
		tb.Errorf("close docker testbed %s: %v", tbd.RunID(), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	left, err := docker.Leftovers(ctx, docker.LabelRun+"="+tbd.RunID())
	if err != nil {
		tb.Errorf("list leftovers of run %s: %v", tbd.RunID(), err)
	}
	if len(left) > 0 {
		tb.Errorf("docker testbed %s left %d objects after Close: %v", tbd.RunID(), len(left), left)
	}
}
