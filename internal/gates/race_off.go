//go:build !race

package gates

// raceEnabled: see race_on.go.
const raceEnabled = false
