//go:build race

package main

// raceEnabled: the test binary, which the process targets of these tests
// exec, runs under the race detector.
const raceEnabled = true
