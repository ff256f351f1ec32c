package scenarios

import (
	"time"

	"github.com/gitchaos/gitchaos/harness/target"
	"github.com/gitchaos/gitchaos/internal/gates"
)

// Option adjusts how a gate runs.
type Option interface {
	apply(*gates.Options)
}

type optionFunc func(*gates.Options)

func (f optionFunc) apply(o *gates.Options) { f(o) }

// WithSeed sets the seed that picks repos, scopes and fault timing
// (default 1): the same seed replays the same run.
func WithSeed(seed int64) Option { return optionFunc(func(o *gates.Options) { o.Seed = seed }) }

// WithTestbed runs on another testbed (default: the local one); kind names
// it in the report. f starts it and must not be nil (the test fails naming
// the problem): the docker testbed is WithTestbed("docker", docker.New)
// with package github.com/gitchaos/gitchaos/harness/testbed/docker.
func WithTestbed(kind string, f TestbedFactory) Option {
	return optionFunc(func(o *gates.Options) { o.SetTestbed(kind, f) })
}

// WithSettings sets the target settings the gate starts targets with and
// derives its budgets from (default DefaultSettings).
func WithSettings(s target.Settings) Option {
	return optionFunc(func(o *gates.Options) { o.Settings = s })
}

// WithTimeout bounds the gate (default 3 min, or 4 s per scope when that is
// more); a test's own deadline bounds it too.
func WithTimeout(d time.Duration) Option { return optionFunc(func(o *gates.Options) { o.Timeout = d }) }

// WithCrashTarget gives crash-restart process targets to kill when the
// gate's own targets cannot be killed (an in-process or URL target).
func WithCrashTarget(f target.Factory) Option {
	return optionFunc(func(o *gates.Options) { o.Crash = f })
}

// WithTransport sets what the git hosts speak: "http" (the default) or
// "ssh" (scopes with OPAL's auth_type ssh, the target handed the host key).
func WithTransport(t string) Option {
	return optionFunc(func(o *gates.Options) { o.Transport = t })
}

// WithStrict turns every skipped check into a failure: a gate whose input
// the target does not give (a stats key, a pid) then fails instead of
// passing without it.
func WithStrict() Option { return optionFunc(func(o *gates.Options) { o.Strict = true }) }
