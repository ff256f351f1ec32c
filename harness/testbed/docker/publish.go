package docker

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// PublishEnv names the environment variable holding the engine-side
// address the testbed's ports are published on (default 127.0.0.1). For a
// remote engine (DOCKER_HOST=tcp://… or ssh://…) set it to an address of
// the engine's machine reachable from here (or 0.0.0.0) and set
// TESTCONTAINERS_HOST_OVERRIDE to that machine's name, so the target dials
// the engine's machine instead of localhost.
const PublishEnv = "GITCHAOS_DOCKER_PUBLISH"

// publishAddr is the address ports are published on: $GITCHAOS_DOCKER_PUBLISH
// or 127.0.0.1.
func publishAddr() (netip.Addr, error) {
	v := os.Getenv(PublishEnv)
	if v == "" {
		return loopback, nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("docker testbed: %s=%q: want an IP address (e.g. 0.0.0.0): %w", PublishEnv, v, err)
	}
	return a, nil
}

// loopbackPorts publishes every exposed port on 127.0.0.1 only (or on
// $GITCHAOS_DOCKER_PUBLISH).
func loopbackPorts(ports ...int) func(*container.HostConfig) {
	addr, err := publishAddr()
	if err != nil { // checked by NewWithOptions before any container starts
		addr = loopback
	}
	return func(hc *container.HostConfig) {
		if hc.PortBindings == nil {
			hc.PortBindings = network.PortMap{}
		}
		for _, p := range ports {
			port := network.MustParsePort(strconv.Itoa(p) + "/tcp")
			hc.PortBindings[port] = []network.PortBinding{{HostIP: addr, HostPort: "0"}}
		}
	}
}
