package testbed

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
)

// Transports a testbed serves its repos over (Options.Transport).
const (
	TransportHTTP = "http" // smart HTTP (the default)
	TransportSSH  = "ssh"  // git-upload-pack over SSH, key auth
)

// ValidateTransport reports a transport that is not "", "http" or "ssh".
func ValidateTransport(t string) error {
	switch t {
	case "", TransportHTTP, TransportSSH:
		return nil
	}
	return fmt.Errorf("transport %q: want %q or %q", t, TransportHTTP, TransportSSH)
}

// SSHUser is the user name of the testbed's SSH URLs
// (ssh://git@127.0.0.1:PORT/r000.git); the servers accept any name with
// the right key.
const SSHUser = "git"

// SSHIdentity is the SSH key material of this process's testbeds: one
// ed25519 host key every SSH git server presents, and one ed25519 client
// key every one of them accepts. It is generated once per process, at
// first use, so that a target factory can hand a target the client key
// and the host key before any testbed exists; it is never written to disk
// by the testbed.
type SSHIdentity struct {
	HostSigner   ssh.Signer
	ClientSigner ssh.Signer
	// HostPublicKey and ClientPublicKey are in authorized_keys format
	// ("ssh-ed25519 AAAA...", no newline).
	HostPublicKey, ClientPublicKey string
	// ClientPrivateKeyPEM is the client key in OpenSSH PEM format
	// ("-----BEGIN OPENSSH PRIVATE KEY-----", no passphrase): what OPAL's
	// auth.private_key takes.
	ClientPrivateKeyPEM string
	// HostPrivateKeyPEM is the host key in the same format, for a git
	// server in a container.
	HostPrivateKeyPEM string
}

// KnownHosts is a known_hosts line that trusts the host key for any host
// name and port ("* ssh-ed25519 AAAA...\n"): the testbed's ports are
// picked at start, after the target got its settings.
func (id *SSHIdentity) KnownHosts() string { return "* " + id.HostPublicKey + "\n" }

var (
	sshOnce sync.Once
	sshID   *SSHIdentity
	sshErr  error
)

// SSHKeys returns this process's SSH identity, generating it on the first
// call.
func SSHKeys() (*SSHIdentity, error) {
	sshOnce.Do(func() { sshID, sshErr = newSSHIdentity() })
	return sshID, sshErr
}

func newSSHIdentity() (*SSHIdentity, error) {
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("testbed: ssh host key: %w", err)
	}
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		return nil, fmt.Errorf("testbed: ssh host key: %w", err)
	}
	hostBlock, err := ssh.MarshalPrivateKey(hostPriv, "gitchaos testbed host")
	if err != nil {
		return nil, fmt.Errorf("testbed: ssh host key: %w", err)
	}
	_, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("testbed: ssh client key: %w", err)
	}
	clientSigner, err := ssh.NewSignerFromKey(clientPriv)
	if err != nil {
		return nil, fmt.Errorf("testbed: ssh client key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(clientPriv, "gitchaos testbed client")
	if err != nil {
		return nil, fmt.Errorf("testbed: ssh client key: %w", err)
	}
	return &SSHIdentity{
		HostSigner:          hostSigner,
		ClientSigner:        clientSigner,
		HostPublicKey:       authorizedKey(hostSigner.PublicKey()),
		ClientPublicKey:     authorizedKey(clientSigner.PublicKey()),
		ClientPrivateKeyPEM: string(pem.EncodeToMemory(block)),
		HostPrivateKeyPEM:   string(pem.EncodeToMemory(hostBlock)),
	}, nil
}

func authorizedKey(k ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}
