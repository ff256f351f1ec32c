package gates

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gitchaos/gitchaos/harness/fetcher"
	"github.com/gitchaos/gitchaos/harness/fetcher/inprocess"
	"github.com/gitchaos/gitchaos/harness/scopeapi"
	"github.com/gitchaos/gitchaos/harness/target"
	"github.com/gitchaos/gitchaos/harness/testbed"
)

// The transport a run's git hosts speak (Options.Transport): smart HTTP
// (the default), or SSH: every host's URL is then
// ssh://git@127.0.0.1:PORT through its proxy, every scope the gates put
// carries OPAL's auth_type ssh fields (username, private_key, public_key:
// the testbed's client key, testbed.SSHKeys), and the target is handed the
// host key as a known_hosts line trusting it for any host and port
// (testbed ports are picked after the target starts): the in-process
// reference fetcher through its config, an exec target through
// GITCHAOS_SSH_KNOWN_HOSTS in its environment. A --target URL server is
// the user's to configure (its known_hosts must trust the key
// `gitchaos testbed up --transport ssh` prints).

// SSHKnownHostsEnv is the environment variable an exec target finds the
// testbed's known_hosts line in over SSH.
const SSHKnownHostsEnv = "GITCHAOS_SSH_KNOWN_HOSTS"

// newScope is target.NewScope with, for an ssh:// URL, OPAL's ssh auth
// fields from the testbed's client key.
func newScope(id, url, branch string) (scopeapi.Scope, error) {
	sc := target.NewScope(id, url, branch)
	if !strings.HasPrefix(url, "ssh://") {
		return sc, nil
	}
	k, err := testbed.SSHKeys()
	if err != nil {
		return sc, fmt.Errorf("scope %s: %w", id, err)
	}
	sc.Policy.Auth = scopeapi.Auth{AuthType: "ssh", Username: testbed.SSHUser,
		PrivateKey: k.ClientPrivateKeyPEM, PublicKey: k.ClientPublicKey}
	return sc, nil
}

// handSSH gives the targets the testbed's host key when the run is over
// SSH: new factories (the caller's are left as they are) of the same
// types, with the known_hosts line in their config or environment.
func (o *Options) handSSH() error {
	if o.Transport != testbed.TransportSSH || o.sshHanded {
		return nil
	}
	k, err := testbed.SSHKeys()
	if err != nil {
		return err
	}
	kh := strings.TrimSpace(k.KnownHosts())
	hand := func(f target.Factory) target.Factory {
		switch f := f.(type) {
		case *inprocess.Factory:
			c := *f
			tune := f.Tune
			c.Tune = func(cfg *fetcher.Config) {
				cfg.SSHKnownHosts = kh
				if tune != nil {
					tune(cfg)
				}
			}
			return &c
		case *target.Exec:
			return &target.Exec{Template: f.Template, Args: f.Args, ArtifactDir: f.ArtifactDir, Token: f.Token,
				Ready: f.Ready, TempDir: f.TempDir, Env: append(slices.Clone(f.Env), SSHKnownHostsEnv+"="+kh)}
		}
		return f
	}
	o.Targets = hand(o.Targets)
	if o.Crash != nil {
		o.Crash = hand(o.Crash)
	}
	o.sshHanded = true
	return nil
}

// A clone over smart HTTP is 2 exchanges (info/refs, upload-pack); over
// SSH about 10 round trips before the pack is in (version, key exchange,
// new keys, service, auth query and signature, channel open, exec, refs,
// wants): with 100 ms of latency a go-git clone took 0.96 s over SSH
// against 0.2 s over HTTP. A gate that injects latency to slow clones
// (boot) injects latency × httpExchanges / sshRoundTrips over SSH, so
// that a clone costs the same time and the gate's budgets hold for both.
const (
	httpExchanges = 2
	sshRoundTrips = 10
)

// overSSH reports whether the run's git hosts speak SSH.
func (s *S) overSSH() bool {
	hs := s.Testbed.Hosts()
	return len(hs) > 0 && strings.HasPrefix(hs[0].URL, "ssh://")
}

// linkLatency is the latency to inject for a clone to cost l ×
// httpExchanges on the run's transport (a whole number of ms).
func (s *S) linkLatency(l time.Duration) time.Duration {
	if !s.overSSH() {
		return l
	}
	return (l * httpExchanges / sshRoundTrips).Truncate(time.Millisecond)
}
