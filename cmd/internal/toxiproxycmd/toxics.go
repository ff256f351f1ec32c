package toxiproxycmd

import "github.com/gitchaos/gitchaos/harness/faults/stalltoxic"

// registerExtraToxics registers gitchaos's custom toxics with toxiproxy's
// toxic registry, before any proxy is created.
func registerExtraToxics() { stalltoxic.Register() }

// extraToxics names the toxics registerExtraToxics adds.
func extraToxics() string { return stalltoxic.TypeName }
