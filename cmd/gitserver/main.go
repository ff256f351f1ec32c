// Command gitserver serves bare git repositories read-only over smart HTTP
// (http://ADDR/<name>.git) with the gitchaos admin API under /_admin/ — the
// fixtures/gitserver handler as a process (package gitservercmd; the
// gitchaos binary runs the same as `gitchaos gitserver`, which is what the
// gitchaos-gitserver image runs).
//
//	gitserver --listen ADDR --root DIR [--engine go-git|http-backend] [--seed-repos N] [--seed S]
//
// SIGINT or SIGTERM releases hung requests and shuts down; exit status 0
// after a signal, 1 on a runtime error, 2 on bad flags.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gitchaos/gitchaos/cmd/internal/gitservercmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	return gitservercmd.Run(ctx, args, stderr)
}
