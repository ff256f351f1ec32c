//go:build race

package scenarios_test

// raceEnabled: the test binary, which the process targets of these tests
// exec, runs under the race detector.
const raceEnabled = true
