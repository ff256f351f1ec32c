package docker

import (
	"fmt"
	"strconv"

	"github.com/gitchaos/gitchaos/harness/testbed"
)

// sshEnv is the git server container's environment over SSH (nil over
// HTTP): its SSH listener on SSHPort (reached through toxiproxy on the
// docker network, never published), and this process's testbed keys
// (testbed.SSHKeys) as text, which the gitserver command reads
// (cmd/internal/gitservercmd: GITCHAOS_SSH_*).
func sshEnv(transport string) (map[string]string, error) {
	if transport != testbed.TransportSSH {
		return nil, nil
	}
	k, err := testbed.SSHKeys()
	if err != nil {
		return nil, fmt.Errorf("docker testbed: %w", err)
	}
	return map[string]string{
		"GITCHAOS_SSH_LISTEN":          ":" + strconv.Itoa(SSHPort),
		"GITCHAOS_SSH_HOST_KEY":        k.HostPrivateKeyPEM,
		"GITCHAOS_SSH_AUTHORIZED_KEYS": k.ClientPublicKey,
	}, nil
}
