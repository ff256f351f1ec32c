package main

import (
	"context"
	"fmt"
	"io"
)

func cmdMatrix(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "gitchaos matrix: not implemented yet")
	return exitUsage
}
