package fetcher

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/fixtures/repogen"
	"github.com/gitchaos/gitchaos/harness/testbed"
)

// TestMutantInactivityTimeout: a clone whose pack trickles (the git
// server's slow fault) for four times the timeout. Correct: the deadline
// ends it at the timeout. inactivity-timeout: every read that brings data
// starts its wait again, so the clone runs as long as the trickle and
// succeeds. A clone that hangs before any data ends at the timeout either
// way.
func TestMutantInactivityTimeout(t *testing.T) {
	const timeout = 500 * time.Millisecond
	const rate = 8 << 10
	ctx := context.Background()
	tb, err := testbed.NewLocal(ctx, testbed.Options{Hosts: 1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tb.Close() })
	h := tb.Hosts()[0]
	spec := repogen.Spec{RegoFiles: 1, DataBytes: 64, Commits: 1, PackBytes: 4 * rate * int64(timeout) / int64(time.Second)}
	for _, mutant := range []string{"", "inactivity-timeout"} {
		t.Run("mutant="+mutant, func(t *testing.T) {
			drip, hung := "drip-"+orName(mutant), "hung-"+orName(mutant)
			for _, name := range []string{drip, hung} {
				if _, err := h.CreateRepo(ctx, name, 7, spec); err != nil {
					t.Fatal(err)
				}
			}
			if err := h.Admin.SetFault(ctx, drip, gitserver.Fault{Mode: gitserver.FaultSlow, BytesPerSec: rate}); err != nil {
				t.Fatal(err)
			}
			if err := h.Admin.SetFault(ctx, hung, gitserver.Fault{Mode: gitserver.FaultHang}); err != nil {
				t.Fatal(err)
			}
			cfg := testConfig(t, mutant)
			cfg.GitTimeout = timeout
			e := startEnv(t, cfg)
			e.add("drip", h.RepoURL(drip))
			e.add("hung", h.RepoURL(hung))

			start := time.Now()
			err := e.f.syncScope(ctx, "hung", syncOpts{})
			if took := time.Since(start); !errors.Is(err, errTimeout) || took > 2*timeout {
				t.Fatalf("hung clone: %v after %v; want a timeout at about %v", err, took, timeout)
			}
			start = time.Now()
			err = e.f.syncScope(ctx, "drip", syncOpts{})
			took := time.Since(start)
			if mutant == "" {
				if !errors.Is(err, errTimeout) || took > 2*timeout {
					t.Fatalf("trickling clone: %v after %v; want a timeout at about %v", err, took, timeout)
				}
				return
			}
			if err != nil || took < 3*timeout {
				t.Fatalf("trickling clone: %v after %v; want it to run as long as the trickle (about %v) and succeed", err, took, 4*timeout)
			}
		})
	}
}

func orName(mutant string) string {
	if mutant == "" {
		return "correct"
	}
	return mutant
}
