// Command reffetcher runs the reference scope fetcher (harness/fetcher) as
// a process serving the OPAL-compatible HTTP API:
//
//	reffetcher --listen 127.0.0.1:7002 --base-dir /var/lib/reffetcher [flags]
//
// Every flag also reads an environment variable (flags win): the OPAL names
// SCOPES_GIT_FETCH_TIMEOUT (seconds), SCOPES_GIT_MAX_WORKERS,
// SCOPES_SYNC_CONCURRENCY and SCOPES_REPO_CLONES_SHARDS, and REFFETCHER_*
// for the others. It loads the persisted scopes, boots them in the
// background, and shuts down gracefully on SIGTERM or SIGINT. Bad flags
// exit with status 2 and a message naming the flag. The command itself is
// fetcher.RunCommand, so other binaries can embed it.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/gitchaos/gitchaos/harness/fetcher"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := fetcher.RunCommand(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, nil)
	stop()
	os.Exit(code)
}
