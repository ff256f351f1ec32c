package fetcher

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// caches are the three process-wide caches upstream names repo_locks,
// repos and repos_last_fetched, under one mutex.
//
// A lock entry lives while its source is pinned (some scope resolves to it)
// or anyone holds or waits for it: it is reference counted, so dropping the
// entry can never hand two callers different locks for one source.
type caches struct {
	mu          sync.Mutex
	locks       map[string]*lockEntry // by source id
	repos       map[string]*openRepo  // by clone path
	lastFetched map[string]time.Time  // by source id
}

type lockEntry struct {
	mu   sync.Mutex
	refs int // holders and waiters
	pins int // live sources using it
}

// openRepo is an open repository whose storage keeps descriptors.
type openRepo struct {
	repo    *git.Repository
	storage *filesystem.Storage
}

func (o *openRepo) close() error {
	if o == nil || o.storage == nil {
		return nil
	}
	return o.storage.Close()
}

func newCaches() *caches {
	return &caches{
		locks:       map[string]*lockEntry{},
		repos:       map[string]*openRepo{},
		lastFetched: map[string]time.Time{},
	}
}

// pin creates the source's lock entry and keeps it while the source lives.
func (c *caches) pin(sid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.locks[sid]
	if e == nil {
		e = &lockEntry{}
		c.locks[sid] = e
	}
	e.pins++
}

// unpin lets the entry go once nobody holds or waits for it.
func (c *caches) unpin(sid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.locks[sid]; e != nil {
		if e.pins > 0 {
			e.pins--
		}
		if e.refs == 0 && e.pins == 0 {
			delete(c.locks, sid)
		}
	}
}

// ref takes a reference on the source's lock entry (creating it).
func (c *caches) ref(sid string) *lockEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.locks[sid]
	if e == nil {
		e = &lockEntry{}
		c.locks[sid] = e
	}
	e.refs++
	return e
}

func (c *caches) unref(sid string, e *lockEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.refs--
	if e.refs == 0 && e.pins == 0 && c.locks[sid] == e {
		delete(c.locks, sid)
	}
}

// lock blocks until the source's lock is held; call the returned unlock.
func (c *caches) lock(sid string) (unlock func()) {
	e := c.ref(sid)
	e.mu.Lock()
	return func() { e.mu.Unlock(); c.unref(sid, e) }
}

// tryLock takes the source's lock only if it is free now.
func (c *caches) tryLock(sid string) (unlock func(), ok bool) {
	e := c.ref(sid)
	if !e.mu.TryLock() {
		c.unref(sid, e)
		return nil, false
	}
	return func() { e.mu.Unlock(); c.unref(sid, e) }, true
}

func (c *caches) repo(path string) *openRepo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.repos[path]
}

// setRepo caches r for path and returns the handle it replaced (if any).
func (c *caches) setRepo(path string, r *openRepo) *openRepo {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.repos[path]
	c.repos[path] = r
	if old == r {
		return nil
	}
	return old
}

func (c *caches) dropRepo(path string) *openRepo {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.repos[path]
	delete(c.repos, path)
	return r
}

func (c *caches) fetchedAt(sid string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.lastFetched[sid]
	return t, ok
}

func (c *caches) stamp(sid string, t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.lastFetched[sid]) {
		c.lastFetched[sid] = t
	}
}

func (c *caches) dropStamp(sid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.lastFetched, sid)
}

func (c *caches) counts() (locks, repos, fetched int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.locks), len(c.repos), len(c.lastFetched)
}

// closeAll closes and forgets every open repository.
func (c *caches) closeAll() error {
	c.mu.Lock()
	repos := c.repos
	c.repos = map[string]*openRepo{}
	c.mu.Unlock()
	var errs []error
	for p, r := range repos {
		if err := r.close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// closeIdleHTTP drops idle keep-alive connections go-git's HTTP transport
// (http.DefaultTransport) holds, so no connection goroutine outlives Close.
func closeIdleHTTP() {
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
}
