package target

import (
	"github.com/gitchaos/gitchaos/harness/probe"
)

// newProbe samples a target: this process when inProcess, else pid when
// > 0; always the stats endpoint and the base dir's disk use when known.
func newProbe(pid int, c *Client, baseDir string, inProcess bool) probe.Source {
	return nil // TODO: wire probe sources when harness/probe lands
}
