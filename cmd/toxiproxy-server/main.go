// Command toxiproxy-server is toxiproxy's own server (the main of
// github.com/Shopify/toxiproxy/v2/cmd/server at the pinned v2.12.0, with
// the same flags) plus gitchaos's extra toxics: package toxiproxycmd as a
// process. The gitchaos binary runs the same as `gitchaos toxiproxy-server`,
// which is what the gitchaos-toxiproxy image runs.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/gitchaos/gitchaos/cmd/internal/toxiproxycmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := toxiproxycmd.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
