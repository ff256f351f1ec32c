//go:build race

package gates

// raceEnabled: this binary runs under the race detector, whose shadow
// memory grows with every allocation and is never returned, so the RSS of
// an in-process target rises per cycle without any leak.
const raceEnabled = true
