package main

import (
	"context"
	"fmt"
	"io"
)

func cmdFault(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "gitchaos fault: not implemented yet")
	return exitUsage
}
