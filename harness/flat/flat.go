// Package flat reaches leak verdicts: Trend judges one value per cycle
// (fds, threads, processes, heap, RSS, disk) with a warm-up cut, a fitted
// slope and its confidence interval against an explicit budget per cycle,
// and says LEAK, flat or UNDECIDED with its numbers.
package flat
