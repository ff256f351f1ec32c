//go:build race

package testbed_test

const raceEnabled = true
