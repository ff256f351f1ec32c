package scopeapi

import "fmt"

// MaxShards is the most clone shards a source can have: a branch's shard
// is the first byte of its sha256 mod the shard count, so shards beyond
// 256 would never be used.
const MaxShards = 256

// The checks below are the one set of rules for the settings a scopes
// server runs with (OPAL_SCOPES_GIT_MAX_WORKERS,
// OPAL_SCOPES_SYNC_CONCURRENCY, OPAL_SCOPES_REPO_CLONES_SHARDS). Each
// error names the setting and the value, in the same words wherever the
// value came from.

// CheckMaxWorkers reports whether n is a valid git worker pool size.
func CheckMaxWorkers(n int) error {
	if n < 1 {
		return fmt.Errorf("max workers %d: must be >= 1", n)
	}
	return nil
}

// CheckSyncConcurrency reports whether n is a valid number of scopes
// synced at once.
func CheckSyncConcurrency(n int) error {
	if n < 1 {
		return fmt.Errorf("sync concurrency %d: must be >= 1", n)
	}
	return nil
}

// CheckShards reports whether n is a valid number of clone shards per
// source (1..MaxShards).
func CheckShards(n int) error {
	if n < 1 || n > MaxShards {
		return fmt.Errorf("shards %d: must be in 1..%d", n, MaxShards)
	}
	return nil
}
