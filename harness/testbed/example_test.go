package testbed_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5"

	"github.com/gitchaos/gitchaos/harness/faults"
	"github.com/gitchaos/gitchaos/harness/testbed"
)

// Start two hosts with three seeded repos each, blackhole one host, watch
// a clone with a deadline time out, undo the fault and clone again.
func ExampleNewLocal() {
	ctx := context.Background()
	tb, err := testbed.NewLocal(ctx, testbed.Options{Hosts: 2, Repos: 3, Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	defer tb.Close() // undoes every fault, stops servers and proxies, removes the repos

	h := tb.Hosts()[0]
	url := h.RepoURL("r000") // http://127.0.0.1:PORT/r000.git, through h0's proxy
	work, err := os.MkdirTemp("", "example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)

	undo, err := h.Inject(ctx, faults.MustParse("blackhole"))
	if err != nil {
		log.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = git.PlainCloneContext(cctx, filepath.Join(work, "a"), true, &git.CloneOptions{URL: url})
	fmt.Println("clone through the blackhole timed out:", err != nil && cctx.Err() != nil)
	cancel()

	if err := undo(ctx); err != nil {
		log.Fatal(err)
	}
	_, err = git.PlainCloneContext(ctx, filepath.Join(work, "b"), true, &git.CloneOptions{URL: url})
	fmt.Println("clone after undo:", err)
	// Output:
	// clone through the blackhole timed out: true
	// clone after undo: <nil>
}
