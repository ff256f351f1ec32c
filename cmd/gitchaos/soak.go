package main

import (
	"context"
	"fmt"
	"io"
)

func cmdSoak(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "gitchaos soak: not implemented yet")
	return exitUsage
}
