//go:build !race

package scenarios

// raceEnabled: see race_on.go.
const raceEnabled = false
