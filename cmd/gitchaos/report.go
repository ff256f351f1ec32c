package main

import (
	"context"
	"fmt"
	"io"
)

func cmdReport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "gitchaos report: not implemented yet")
	return exitUsage
}
