package main

import (
	"context"
	"fmt"
	"io"
)

func cmdGate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "gitchaos gate: not implemented yet")
	return exitUsage
}
