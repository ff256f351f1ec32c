package gitservercmd

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"

	"golang.org/x/crypto/ssh"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
)

// The SSH listener (--ssh-listen): the same repos as
// ssh://git@ADDR/<name>.git, key auth only. Keys come from files
// (--ssh-host-key: a PEM private key; --ssh-authorized-keys:
// authorized_keys lines) or, when those flags are empty, from the
// environment as text: GITCHAOS_SSH_HOST_KEY and
// GITCHAOS_SSH_AUTHORIZED_KEYS (how the docker testbed hands a container
// its keys); GITCHAOS_SSH_LISTEN is --ssh-listen's default.

// Environment variables of the SSH listener.
const (
	EnvSSHListen         = "GITCHAOS_SSH_LISTEN"
	EnvSSHHostKey        = "GITCHAOS_SSH_HOST_KEY"
	EnvSSHAuthorizedKeys = "GITCHAOS_SSH_AUTHORIZED_KEYS"
)

type sshFlags struct {
	listen, hostKeyFile, authorizedFile string
}

// sshConfig reads the SSH keys (nil options when --ssh-listen is empty).
func (f sshFlags) options() (*gitserver.SSHOptions, error) {
	if f.listen == "" {
		return nil, nil
	}
	if _, _, err := net.SplitHostPort(f.listen); err != nil {
		return nil, fmt.Errorf("--ssh-listen %q: want host:port: %w", f.listen, err)
	}
	hostPEM, err := fileOrEnv(f.hostKeyFile, EnvSSHHostKey, "--ssh-host-key")
	if err != nil {
		return nil, err
	}
	signer, err := ssh.ParsePrivateKey(hostPEM)
	if err != nil {
		return nil, fmt.Errorf("--ssh-host-key: %w", err)
	}
	authText, err := fileOrEnv(f.authorizedFile, EnvSSHAuthorizedKeys, "--ssh-authorized-keys")
	if err != nil {
		return nil, err
	}
	var keys []ssh.PublicKey
	for rest := bytes.TrimSpace(authText); len(rest) > 0; rest = bytes.TrimSpace(rest) {
		k, _, _, next, err := ssh.ParseAuthorizedKey(rest)
		if err != nil {
			return nil, fmt.Errorf("--ssh-authorized-keys: %w", err)
		}
		keys = append(keys, k)
		rest = next
	}
	if len(keys) == 0 {
		return nil, errors.New("--ssh-authorized-keys: no keys")
	}
	return &gitserver.SSHOptions{HostKey: signer, AuthorizedKeys: keys}, nil
}

func fileOrEnv(file, env, flagName string) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flagName, err)
		}
		return b, nil
	}
	if v := os.Getenv(env); v != "" {
		return []byte(v), nil
	}
	return nil, fmt.Errorf("%s: required with --ssh-listen (or $%s)", flagName, env)
}

// serveSSH starts the SSH listener; stop closes it.
func serveSSH(srv *gitserver.Server, listen string, opts *gitserver.SSHOptions, log *slog.Logger) (stop func() error, err error) {
	opts.Logger = log
	ss, err := gitserver.NewSSHServer(srv, *opts)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("--ssh-listen %q: %w", listen, err)
	}
	log.Info("gitserver: ssh listening", "addr", ln.Addr().String(), "url", "ssh://git@"+ln.Addr().String())
	done := make(chan error, 1)
	go func() { done <- ss.Serve(ln) }()
	return func() error { return errors.Join(ss.Close(), <-done) }, nil
}
