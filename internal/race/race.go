// Package race says whether this binary was built with the race detector.
// Under it a process's RSS grows with the detector's shadow memory, which
// is never returned, and code runs several times slower: checks on RSS and
// speed floors ask Enabled before they judge.
package race
