package scenarios_test

import (
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/harness/fetcher/inprocess"
	"github.com/gitchaos/gitchaos/harness/target"
	"github.com/gitchaos/gitchaos/harness/testbed/docker"
	"github.com/gitchaos/gitchaos/scenarios"
)

// The examples are compiled, not run (they have no output): they keep the
// snippets of README.md, docs/own-server.md and docs/soak.md true to the API.
var t = &testing.T{}

// A leak gate against your own server, started by the harness.
func ExampleChurn() {
	srv := &target.Exec{Template: "./bin/my-server --listen {addr} --data {base_dir}"}
	scenarios.Churn(t, srv, scenarios.ChurnParams{Cycles: 20, Scopes: 16}, scenarios.WithSeed(3))
}

// The whole suite, one subtest per gate.
func ExampleSuite() {
	srv := &inprocess.Factory{}
	for _, g := range scenarios.Suite() {
		t.Run(g.GateName(), func(t *testing.T) { scenarios.Check(t, srv, g) })
	}
}

// A gate on the docker testbed.
func ExampleWithTestbed() {
	scenarios.Offline(t, &inprocess.Factory{}, scenarios.OfflineParams{}, scenarios.WithTestbed("docker", docker.New))
}

// A ten-minute soak.
func ExampleSoak() {
	scenarios.Soak(t, &inprocess.Factory{},
		scenarios.SoakParams{Duration: 10 * time.Minute, Window: 30 * time.Second},
		scenarios.WithSeed(1))
}
