package fetcher

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing/cache"
)

// TestIdleScopeMemory measures the heap an idle, synced scope costs (its
// open repository with descriptors kept and a bounded object cache, its
// state, its lock entry), with and without its bundle built. It is a
// study, not a gate: set FETCHER_MEMSTUDY=<scopes> to run it, e.g.
//
//	FETCHER_MEMSTUDY=200 go test -count=1 -run TestIdleScopeMemory -v ./harness/fetcher/
func TestIdleScopeMemory(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("FETCHER_MEMSTUDY"))
	if n <= 0 {
		t.Skip("set FETCHER_MEMSTUDY=<scopes> to run the idle-scope memory study")
	}
	for _, cacheBytes := range []int64{DefaultObjectCacheBytes, int64(cache.DefaultMaxSize)} {
		t.Run(fmt.Sprintf("object-cache=%d", cacheBytes), func(t *testing.T) {
			srv := newGitSrv(t)
			heads := map[string]string{}
			urls := map[string]string{}
			for i := range n {
				id := fmt.Sprintf("s%04d", i)
				urls[id], heads[id] = srv.addRepo(fmt.Sprintf("r%04d", i), int64(1000+i))
			}
			cfg := testConfig(t)
			cfg.ObjectCacheBytes = cacheBytes
			e := startEnv(t, cfg)
			base := heapInUse()
			for id, u := range urls {
				e.put(id, u)
			}
			for id, h := range heads {
				waitFor(t, 60*time.Second, "scope ready", func() (bool, string) {
					st := e.status(id)
					return st.Head == h, st.Status
				})
			}
			e.settle()
			synced := heapInUse()
			if p := os.Getenv("FETCHER_MEMSTUDY_PROFILE"); p != "" {
				writeHeapProfile(t, p)
			}
			for id := range heads {
				if _, code := e.policy(id); code != 200 {
					t.Fatalf("policy %s: HTTP %d", id, code)
				}
			}
			withBundles := heapInUse()
			t.Logf("%d idle scopes, object cache %d B: heap %.1f KiB/scope synced, %.1f KiB/scope with bundle cached; fds %d",
				n, cacheBytes, float64(synced-base)/float64(n)/1024, float64(withBundles-base)/float64(n)/1024, e.stats().FDs)
		})
	}
}

func writeHeapProfile(t *testing.T, path string) {
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if err := pprof.WriteHeapProfile(fh); err != nil {
		t.Fatal(err)
	}
}

func heapInUse() int64 {
	var ms runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
