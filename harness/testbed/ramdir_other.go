//go:build !linux

package testbed

// ramDir reports no RAM-backed directory outside Linux.
func ramDir() (string, bool) { return "", false }
