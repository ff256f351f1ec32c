package gates

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gitchaos/gitchaos/harness/eventually"
	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/harness/target"
)

// The delete-hang gate's checks on a shared source (OPAL #923's review:
// clones are keyed by source id, several scopes share one, and a delete
// purges only when no sibling resolves to the same source).
var (
	deleteHangSiblingServes = declare("delete-hang", "sibling-serves", "a scope sharing a deleted scope's source serves without a gap", unitCount,
		"deleting one of the scopes that share a source (same url, same branch), once plainly and once while a fetch of that source hangs, leaves the survivor serving: every poll through the deletes answers its newest commit, and a push and a refresh bring the next")
	deleteHangSiblingKept = declare("delete-hang", "sibling-clone-kept", "a shared clone, its cache entries and lock stay while a sharer lives", unitCount,
		"deleting one of the scopes that share a source keeps the source's clone dir and its repos, repos_last_fetched and repo_locks entries while another scope uses it")
	deleteHangLastPurges = declare("delete-hang", "last-sharer-purges", "deleting the last sharer purges the clone and cache entries", unitCount,
		"once the last scope of a source that was shared is deleted, its clone dir and cache entries go, as for a source never shared")
)

// sharedSharers is how many scopes share the source: one deleted plainly,
// one deleted while a fetch of the source hangs, one survivor.
const sharedSharers = 3

// sharedPollEvery is how often the survivor, its clone and the caches are
// read while the sharers are deleted.
const sharedPollEvery = 20 * time.Millisecond

// sharedDwellPolls is how many polls follow each delete before the gate
// goes on (5 at 20 ms: at least 100 ms, time for a purge the server runs
// behind the delete's answer to show; the polls go on through the rest of
// the phase, the hang, the push and the refresh).
const sharedDwellPolls = 5

// sharedSource puts three scopes on one repo (same url, same branch: one
// source), deletes the first while the others live, then the second while
// a fetch of the source hangs; throughout, the survivor is polled (every
// answer its newest commit), its clone dir and the cache entries are
// watched; after the hang a push and a refresh must bring the survivor the
// new commit. Deleting the survivor, the last sharer, must purge the clone
// and the cache entries.
func (s *S) sharedSource(ctx context.Context, p *DeleteHangParams) error {
	h := s.scopes.Host(0)
	repos, err := s.scopes.CreateRepos(ctx, h, p.Scopes+1, 1, p.Spec)
	if err != nil {
		return err
	}
	r := &repos[0]
	ids := make([]string, sharedSharers)
	for i := range ids {
		ids[i] = s.scopes.ID(p.Scopes + 2 + i)
	}
	first, second, survivor := ids[0], ids[1], ids[2]
	s.rec.Mark(result.MarkerPhase, "delete sharers of one source")
	// The caches before the sharers are put: what deleting the last one
	// must bring them back to (an earlier phase's leak is not this one's).
	base, err := s.cacheReading(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.scopes.PutBranch(ctx, id, r.URL(), "main"); err != nil {
			return err
		}
	}
	want := map[string]string{}
	for _, id := range ids {
		want[id] = r.Head
	}
	if _, out := s.scopes.Ready(ctx, ids, want); !out.OK {
		return fmt.Errorf("delete-hang: scopes sharing %s never served: %s", r.Name, out.Describe())
	}
	s.scopes.learnClones(repos)
	m := &sharedMonitor{s: s, id: survivor, heads: []string{r.Head}, dirs: s.scopes.clonesOf(r.URL())}
	st, ok, err := s.Stats(ctx)
	if err != nil {
		return fmt.Errorf("delete-hang: stats: %w", err)
	}
	if why := lacksCaches(st, ok); why == "" {
		m.before = map[string]float64{}
		for _, k := range target.CacheKeys {
			m.before[k] = st[k]
		}
	} else {
		m.cacheWhy = why
	}
	mctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.run(mctx)
	}()
	defer func() { stop(); wg.Wait() }()

	// The first sharer, deleted while the others live.
	if err := s.scopes.Delete(ctx, first); err != nil {
		return fmt.Errorf("delete %s: %w", first, err)
	}
	m.note("deleted " + first)
	m.dwell(ctx)

	// The second, deleted while a fetch of the source hangs.
	clear, err := s.faults.Inject(ctx, r.Host, r.Name, fault("hang"))
	if err != nil {
		return err
	}
	if err := s.scopes.Push(ctx, r); err != nil {
		return err
	}
	m.push(r.Head)
	if err := s.Client.Refresh(ctx, survivor); err != nil {
		return fmt.Errorf("refresh %s: %w", survivor, err)
	}
	// A survivor that already fails serves nothing the hang could hold:
	// no need to wait the full 10 s for it.
	heldWait := 10 * time.Second
	if bad, _ := m.verdict(); bad > 0 {
		heldWait = max(time.Second, 2*s.Settings.GitTimeout)
	}
	heldOut, _ := s.waitHeld(ctx, []Repo{*r}, 1, heldWait, 10*time.Millisecond)
	if err := s.scopes.Delete(ctx, second); err != nil {
		return fmt.Errorf("delete %s during the hang: %w", second, err)
	}
	m.note("deleted " + second + " during a hung fetch")
	m.dwell(ctx)
	if err := clear(ctx); err != nil {
		return err
	}

	// After the hang, once the held fetch has ended (a refresh that meets a
	// running fetch may only read what it leaves: the reference fetcher's
	// and OPAL's single flight), a push and a refresh bring the survivor
	// the new commit.
	budget := 3*s.Settings.GitTimeout + 5*time.Second
	if out := s.waitIdle(ctx, budget); !out.OK {
		s.Logf("delete-hang: the target did not go idle after the hang: %s", out.Describe())
	}
	// A target without in_flight (OPAL) is idle for the git server: the
	// held fetch answered and nothing since. A refresh sent while that
	// fetch is still ending is one a completion-time stamp suppresses
	// (recovery.force-fetch-not-suppressed guards that, not this check).
	if err := repoQuiet(ctx, r, 250*time.Millisecond, budget); err != nil {
		s.Logf("delete-hang: %v", err)
	}
	if err := s.scopes.Push(ctx, r); err != nil {
		return err
	}
	m.push(r.Head)
	if err := s.Client.Refresh(ctx, survivor); err != nil {
		return fmt.Errorf("refresh %s: %w", survivor, err)
	}
	wait, waitWhy := budget, "3 × git timeout + 5 s, after waiting as long for the held fetch to end"
	if bad, _ := m.verdict(); bad > 0 {
		// Failing already: a short look is enough.
		wait, waitWhy = max(time.Second, 2*s.Settings.GitTimeout), "2 × git timeout: polls had failed already"
	}
	_, newest := s.scopes.Served(ctx, []string{survivor}, map[string]string{survivor: r.Head}, wait)
	stop()
	wg.Wait()

	bad, why := m.verdict()
	if !newest.OK {
		bad++
		why = append(why, fmt.Sprintf("after the hang, a push and a refresh, %s never served the new commit %s within %v (%s; commits in push order %s): %s", survivor, short(r.Head), wait, waitWhy, m.known(), newest.Describe()))
	}
	setting := fmt.Sprintf("%d polls of %s over %v while %s was deleted (%s and %s living) and %s while a fetch of the source hung", m.polls, survivor, m.span().Round(time.Millisecond), first, second, survivor, second)
	if !heldOut.OK {
		setting = strings.Replace(setting, "while a fetch of the source hung", "(the fetch of the source never reached the hang: "+heldOut.Describe()+")", 1)
		if bad == 0 {
			s.rec.Error(deleteHangSiblingServes, fmt.Errorf("%s: the survivor served throughout, but the delete during a hung fetch was not tested", setting))
			bad = -1
		}
	}
	if bad >= 0 {
		s.rec.EQ(deleteHangSiblingServes, float64(bad), 0, orDefault(strings.Join(why, "; "), setting+": every answer was its newest commit, and the new one came after the refresh"))
	}
	s.recordKept(m)
	return s.lastSharer(ctx, survivor, r.URL(), m.dirs, base)
}

// cacheReading is the cache entries now (nil when the stats lack them).
func (s *S) cacheReading(ctx context.Context) (map[string]float64, error) {
	st, ok, err := s.Stats(ctx)
	if err != nil {
		return nil, fmt.Errorf("delete-hang: stats: %w", err)
	}
	if lacksCaches(st, ok) != "" {
		return nil, nil
	}
	out := map[string]float64{}
	for _, k := range target.CacheKeys {
		out[k] = st[k]
	}
	return out, nil
}

// recordKept records sibling-clone-kept from what the monitor saw.
func (s *S) recordKept(m *sharedMonitor) {
	_, known := s.CloneDirs()
	var watched []string
	if len(m.dirs) > 0 {
		watched = append(watched, "clone dir "+strings.Join(m.dirs, ", "))
	}
	if m.before != nil {
		watched = append(watched, "cache entries ("+statsLabel(m.before)+" before the deletes)")
	}
	if len(watched) == 0 {
		why := "no clone of the shared repo found under " + orDefault(strings.Join(s.forensicDirs(), ", "), "the target's dirs (base dir unknown)")
		if known {
			why = "no git dir naming the shared repo's commits found under " + strings.Join(s.forensicDirs(), ", ")
		}
		s.rec.Skip(deleteHangSiblingKept, why+"; cache entries not watched: "+m.cacheWhy)
		return
	}
	expl := fmt.Sprintf("%s stayed through %d polls while the survivor lived", strings.Join(watched, " and "), m.polls)
	if m.cacheWhy != "" {
		expl += " (cache entries not watched: " + m.cacheWhy + ")"
	}
	if len(m.dirs) == 0 {
		expl += " (no clone dir of the shared repo found under " + orDefault(strings.Join(s.forensicDirs(), ", "), "the target's dirs") + ")"
	}
	s.rec.EQ(deleteHangSiblingKept, float64(m.lost), 0, orDefault(m.lostWhy, expl))
}

// lastSharer deletes the survivor and waits for the source's clone dirs
// to go and the cache entries to come back to base, their reading before
// the sharers were put.
func (s *S) lastSharer(ctx context.Context, id, url string, dirs []string, base map[string]float64) error {
	if err := s.scopes.Delete(ctx, id); err != nil {
		return fmt.Errorf("delete %s: %w", id, err)
	}
	cachesWatched := true
	left := 0
	out := eventually.Poll(ctx, 5*time.Second, 20*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		var parts []string
		left = 0
		for _, d := range dirs {
			if isGitDir(d) || isGitDir(filepath.Join(d, ".git")) {
				left++
				parts = append(parts, "clone dir "+d)
			}
		}
		st, ok, err := s.Stats(ctx)
		if err != nil {
			return false, "", err
		}
		if lacksCaches(st, ok) != "" || base == nil {
			cachesWatched = false
		} else {
			for _, k := range target.CacheKeys {
				if st[k] > base[k] {
					left += int(st[k] - base[k])
					parts = append(parts, fmt.Sprintf("%s=%g (%g before the sharers were put)", k, st[k], base[k]))
				}
			}
		}
		return left == 0, orDefault(strings.Join(parts, ", "), "nothing left"), nil
	})
	if len(dirs) == 0 && !cachesWatched {
		s.rec.Skip(deleteHangLastPurges, "neither the shared clone's dir (none found) nor the cache entries (stats lack them) can be watched")
		return nil
	}
	what := fmt.Sprintf("after deleting %s, the last of %d scopes on %s", id, sharedSharers, url)
	if !out.OK {
		s.rec.EQ(deleteHangLastPurges, float64(max(left, 1)), 0, what+", within 5 s: "+out.Describe())
		return nil
	}
	seen := fmt.Sprintf("its clone dir went and the cache entries came back to their reading before the sharers were put (%s)", statsLabel(base))
	if !cachesWatched {
		seen = "its clone dir went (cache entries not watched: the stats lack them)"
	} else if len(dirs) == 0 {
		seen = "every cache entry went (no clone dir of it found to watch)"
	}
	s.rec.EQ(deleteHangLastPurges, 0, 0, what+": "+seen)
	return nil
}

// clonesOf lists the dirs of the clones learned for url.
func (ss *scopeSet) clonesOf(url string) []string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	var out []string
	for d, c := range ss.clones {
		if c.url == url {
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

// sharedMonitor polls the survivor of a shared source, its clone dirs and
// the cache entries until stopped, keeping the first few faults it sees.
type sharedMonitor struct {
	s      *S
	id     string
	dirs   []string
	before map[string]float64 // cache entries before the deletes (nil: not watched)

	cacheWhy string // why the caches are not watched

	mu         sync.Mutex
	heads      []string // the repo's commits in push order
	at         int      // index in heads of the last answer
	polls      int
	bad        int
	lastBad    string
	why        []string
	lost       int // polls where the clone dir or a cache entry was gone
	lostWhy    string
	start, end time.Time
	events     []string // what happened when (deletes), for explanations
}

// push adds a commit the survivor may serve from now on.
func (m *sharedMonitor) push(head string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.heads = append(m.heads, head)
}

// note stamps an event (a delete) for the explanations.
func (m *sharedMonitor) note(ev string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, fmt.Sprintf("%s at %s", ev, m.since()))
}

// since is the time since the monitor started, for explanations (m.mu held).
func (m *sharedMonitor) since() string {
	if m.start.IsZero() {
		return "0s"
	}
	return time.Since(m.start).Round(time.Millisecond).String()
}

// dwell waits until sharedDwellPolls more polls have been taken (or 5 s,
// on a target too slow to answer them).
func (m *sharedMonitor) dwell(ctx context.Context) {
	m.mu.Lock()
	from := m.polls
	m.mu.Unlock()
	eventually.Poll(ctx, 5*time.Second, 5*time.Millisecond, func(context.Context) (bool, string, error) {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.polls >= from+sharedDwellPolls, fmt.Sprintf("%d polls", m.polls-from), nil
	})
}

func (m *sharedMonitor) span() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.end.Sub(m.start)
}

func (m *sharedMonitor) run(ctx context.Context) {
	m.mu.Lock()
	m.start = time.Now()
	m.mu.Unlock()
	t := time.NewTicker(sharedPollEvery)
	defer t.Stop()
	for {
		m.poll(ctx)
		select {
		case <-ctx.Done():
			m.mu.Lock()
			m.end = time.Now()
			m.mu.Unlock()
			return
		case <-t.C:
		}
	}
}

// poll reads the survivor's bundle, its clone dirs and the caches once.
func (m *sharedMonitor) poll(ctx context.Context) {
	b, err := m.s.Client.Policy(ctx, m.id)
	if ctx.Err() != nil {
		return // stopped mid-poll: not an answer
	}
	var missing []string
	for _, d := range m.dirs {
		if !isGitDir(d) && !isGitDir(filepath.Join(d, ".git")) {
			missing = append(missing, "clone dir "+d+" gone")
		}
	}
	if m.before != nil {
		if st, ok, serr := m.s.Stats(ctx); serr == nil && ok {
			for _, k := range target.CacheKeys {
				if v, has := st[k]; !has || v < m.before[k] {
					missing = append(missing, fmt.Sprintf("%s=%g (was %g)", k, v, m.before[k]))
				}
			}
		}
	}
	if ctx.Err() != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.polls++
	fault := ""
	switch i := slices.Index(m.heads, b.Hash); {
	case err != nil:
		fault = fmt.Sprintf("no bundle: %v", err)
	case i < 0:
		fault = fmt.Sprintf("served %s, not a commit of its repo (%s)", short(b.Hash), m.known())
	case i < m.at:
		fault = fmt.Sprintf("served %s after %s: back to an older commit", short(b.Hash), short(m.heads[m.at]))
	default:
		m.at = i
	}
	if fault != "" {
		m.bad++
		m.lastBad = m.since()
		if len(m.why) < 1 {
			m.why = append(m.why, fmt.Sprintf("%s at %s (%s): %s", m.id, m.since(), m.eventsSoFar(), fault))
		}
	}
	if len(missing) > 0 {
		m.lost++
		if m.lostWhy == "" {
			m.lostWhy = fmt.Sprintf("while %s lived, at %s (%s): %s", m.id, m.since(), m.eventsSoFar(), strings.Join(missing, ", "))
		}
	}
}

func (m *sharedMonitor) known() string {
	var hs []string
	for _, h := range m.heads {
		hs = append(hs, short(h))
	}
	return strings.Join(hs, ", ")
}

func (m *sharedMonitor) eventsSoFar() string {
	if len(m.events) == 0 {
		return "before any delete"
	}
	return strings.Join(m.events, ", ")
}

// verdict is how many polls failed and the first few faults.
func (m *sharedMonitor) verdict() (int, []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	why := slices.Clone(m.why)
	if m.bad > len(why) {
		why = append(why, fmt.Sprintf("%d of %d polls failed in all, the last at %s", m.bad, m.polls, m.lastBad))
	}
	return m.bad, why
}
