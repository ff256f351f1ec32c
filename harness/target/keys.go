package target

// Keys of the OPAL scopes API that the scenarios read: the stats endpoint
// (/internal/git-fetcher-cache-stats) and /healthcheck. The reference
// fetcher's test (harness/fetcher, wire_test.go) proves it sends each, so
// the two sides cannot drift; a foreign server that lacks one gets the
// checks that need it skipped, with the key named.
const (
	StatRepoLocks        = "repo_locks"         // source locks held
	StatRepos            = "repos"              // open repository handles
	StatReposLastFetched = "repos_last_fetched" // last-fetch stamps
	StatInFlight         = "in_flight"          // git operations running now
	StatWebhookTasks     = "webhook_tasks"      // webhook tasks kept in the list
	HealthScopesFailed   = "scopes_failed"      // scopes whose sync failed (healthcheck)
)

// CacheKeys are the per-source caches that must drain when every scope of
// a source is deleted.
var CacheKeys = []string{StatRepoLocks, StatRepos, StatReposLastFetched}
