// Package fetchertest lets a test binary double as the reference fetcher
// process, so tests can start, SIGKILL and restart a real fetcher process
// without building cmd/reffetcher first.
package fetchertest

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/gitchaos/gitchaos/harness/fetcher"
)

// MaybeRun serves the reference fetcher (fetcher.RunCommand with the
// process's arguments) and exits when the environment variable env is
// "1"; otherwise it returns at once. Call it first in TestMain, and start
// the test binary itself with env=1 in its environment.
func MaybeRun(env string) {
	if os.Getenv(env) != "1" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := fetcher.RunCommand(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, nil)
	stop()
	os.Exit(code)
}
