// Package inprocess runs the reference fetcher (harness/fetcher) inside
// this process as a gate target: Factory is the target the CLI, the matrix
// and Go tests use when no other is named, and the one whose historical
// bugs (mutants) can be switched back on. It lives beside the fetcher, not
// in harness/target, so that gating one's own server does not link the
// reference fetcher and go-git; harness/target runs it as any in-process
// Server (target.StartInProcess).
package inprocess

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/gitchaos/gitchaos/harness/fetcher"
	"github.com/gitchaos/gitchaos/harness/target"
)

// Factory makes reference fetchers running in this process, each on its
// own temp base dir and 127.0.0.1 port.
type Factory struct {
	Mutants []string              // historical bugs switched back on
	Logger  *slog.Logger          // nil: discard
	TempDir string                // parent of base dirs ("" = os.TempDir())
	Tune    func(*fetcher.Config) // optional last word on the config
}

var (
	_ target.Factory = (*Factory)(nil)
	_ target.Mutated = (*Factory)(nil)
)

// MutantNames implements target.Mutated.
func (f *Factory) MutantNames() []string { return append([]string(nil), f.Mutants...) }

// Describe implements target.Factory.
func (f *Factory) Describe() string { return "in-process reffetcher " + mutantsLabel(f.Mutants) }

// Fresh implements target.Factory.
func (f *Factory) Fresh() bool { return true }

func mutantsLabel(m []string) string {
	if len(m) == 0 {
		return "(correct)"
	}
	return "(mutants: " + strings.Join(m, ",") + ")"
}

// New implements target.Factory: a fetcher configured from the settings
// (and Tune), booted before New returns, and booted again on the same
// base dir by Restart and ColdStart.
func (f *Factory) New(ctx context.Context, s target.Settings) (target.Target, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("in-process target: %w", err)
	}
	logger := f.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var cfg *fetcher.Config // made on the first start, kept for restarts
	start := func(ctx context.Context, dir string, s target.Settings) (target.Server, error) {
		if cfg == nil {
			cfg = &fetcher.Config{
				BaseDir:         dir,
				MaxWorkers:      s.MaxWorkers,
				GitTimeout:      s.GitTimeout,
				SyncConcurrency: s.SyncConcurrency,
				Shards:          s.Shards,
				Mutants:         f.Mutants,
				Logger:          logger,
			}
			if f.Tune != nil {
				f.Tune(cfg)
			}
		}
		fe, err := fetcher.New(*cfg)
		if err != nil {
			return nil, err
		}
		if err := fe.Boot(context.WithoutCancel(ctx)); err != nil {
			_ = fe.Close()
			return nil, err
		}
		return fe, nil
	}
	return target.StartInProcess(ctx, s, target.InProcessSpec{
		Describe:       f.Describe(),
		TempDir:        f.TempDir,
		BaseDirPattern: "gitchaos-reffetcher-*",
		Start:          start,
	})
}
