// Package flat reaches flatness and leak verdicts: Settle for counts that
// must return exactly (goroutines, fds, cache entries) and Trend for
// quantities that drift (heap, RSS), fitted per cycle with a confidence
// interval against an explicit budget. Every verdict states its numbers.
package flat
