//go:build !race

package testbed_test

const raceEnabled = false
