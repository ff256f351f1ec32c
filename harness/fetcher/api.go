package fetcher

import (
	"bufio"
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/gitchaos/gitchaos/harness/scopeapi"
)

// Stats are the cache stats and health counters.
type Stats struct {
	RepoLocks        int    `json:"repo_locks"`
	Repos            int    `json:"repos"`
	ReposLastFetched int    `json:"repos_last_fetched"`
	RSSKB            int64  `json:"rss_kb"`
	HeapBytes        uint64 `json:"heap_bytes,omitempty"` // live heap (after GC with ?gc=1); set by the stats endpoint only
	Goroutines       int    `json:"goroutines"`
	FDs              int    `json:"fds"`
	InFlight         int64  `json:"in_flight"`
	WebhookTasks     int    `json:"webhook_tasks"`
	TasksRunning     int64  `json:"tasks_running"`
	SourceOpsMax     int64  `json:"source_ops_max"` // high-water mark of git operations at once on one source
	Bundles          int    `json:"bundles"`
	ScopesTotal      int    `json:"scopes_total"`
	ScopesReady      int    `json:"scopes_ready"`
	ScopesFailed     int    `json:"scopes_failed"`
	ScopesPending    int    `json:"scopes_pending"`
	Sources          int    `json:"sources"`
}

// Stats returns the current cache and health counters.
func (f *Fetcher) Stats() Stats {
	var s Stats
	s.RepoLocks, s.Repos, s.ReposLastFetched = f.caches.counts()
	s.RSSKB = rssKB()
	s.Goroutines = runtime.NumGoroutine()
	s.FDs = countFDs()
	s.InFlight = f.inFlight.Load()
	s.WebhookTasks = f.tasks.len()
	s.TasksRunning = f.tasksRunning.Load()
	s.SourceOpsMax = f.srcOpsMax.Load()
	s.Bundles = f.bundles.len()
	f.mu.Lock()
	s.ScopesTotal = len(f.scopes)
	s.Sources = len(f.sources)
	for _, st := range f.scopes {
		switch st.status {
		case statusReady:
			s.ScopesReady++
		case statusFailed:
			s.ScopesFailed++
		default:
			s.ScopesPending++
		}
	}
	f.mu.Unlock()
	return s
}

func countFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

func rssKB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := sc.Text()
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return n
		}
	}
	return -1
}

// Handler serves the OPAL-compatible HTTP API (see DESIGN.md) plus
// /debug/pprof.
func (f *Fetcher) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /scopes", f.hPut)
	mux.HandleFunc("GET /scopes", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, f.ListScopes()) })
	mux.HandleFunc("GET /scopes/{id}", func(w http.ResponseWriter, r *http.Request) {
		sc, ok := f.GetScope(r.PathValue("id"))
		if !ok {
			writeErr(w, http.StatusNotFound, fmt.Sprintf("scope %q not found", r.PathValue("id")))
			return
		}
		writeJSON(w, http.StatusOK, sc)
	})
	mux.HandleFunc("DELETE /scopes/{id}", func(w http.ResponseWriter, r *http.Request) {
		if err := f.DeleteScope(r.PathValue("id")); err != nil {
			if errors.Is(err, ErrNotFound) {
				writeErr(w, http.StatusNotFound, err.Error())
				return
			}
			writeErr(w, http.StatusInternalServerError, err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /scopes/refresh", func(w http.ResponseWriter, _ *http.Request) {
		f.RefreshAll()
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("POST /scopes/{id}/refresh", func(w http.ResponseWriter, r *http.Request) {
		hint := r.URL.Query().Get("hinted_hash")
		if err := f.Refresh(r.PathValue("id"), hint); err != nil {
			writeErr(w, http.StatusNotFound, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /scopes/{id}/policy", func(w http.ResponseWriter, r *http.Request) {
		b, err := f.Policy(r.Context(), r.PathValue("id"))
		switch {
		case errors.Is(err, ErrNotFound):
			writeErr(w, http.StatusNotFound, err.Error())
		case errors.Is(err, errNotReady):
			writeErr(w, http.StatusServiceUnavailable, err.Error())
		case err != nil:
			writeErr(w, http.StatusInternalServerError, err.Error())
		default:
			writeJSON(w, http.StatusOK, b)
		}
	})
	mux.HandleFunc("GET /healthcheck", func(w http.ResponseWriter, _ *http.Request) {
		s := f.Stats()
		writeJSON(w, http.StatusOK, map[string]any{
			"status": "ok", "booting": f.Booting(),
			"scopes_total": s.ScopesTotal, "scopes_ready": s.ScopesReady,
			"scopes_failed": s.ScopesFailed, "scopes_pending": s.ScopesPending,
		})
	})
	mux.HandleFunc("GET /internal/git-fetcher-cache-stats", func(w http.ResponseWriter, r *http.Request) {
		// ?gc=1 collects garbage and gives freed pages back to the OS
		// first, so heap_bytes is the heap in use after GC and the RSS
		// read next from outside is the memory held, not free spans the
		// runtime keeps until its scavenger runs: what a leak check from
		// outside the process needs.
		if r.URL.Query().Get("gc") == "1" {
			debug.FreeOSMemory()
		}
		s := f.Stats()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		s.HeapBytes = ms.HeapAlloc
		writeJSON(w, http.StatusOK, s)
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return f.auth(mux)
}

func (f *Fetcher) auth(next http.Handler) http.Handler {
	if f.cfg.Token == "" {
		return next
	}
	want := []byte("Bearer " + f.cfg.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", "Bearer")
			writeErr(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (f *Fetcher) hPut(w http.ResponseWriter, r *http.Request) {
	body := http.MaxBytesReader(w, r.Body, f.cfg.MaxBodyBytes)
	dec := json.NewDecoder(body)
	var sc scopeapi.Scope
	if err := dec.Decode(&sc); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeErr(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", mbe.Limit))
			return
		}
		writeErr(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return
	}
	out, err := f.PutScope(sc)
	if err != nil {
		if errors.Is(err, ErrBadInput) {
			writeErr(w, http.StatusUnprocessableEntity, err.Error())
			return
		}
		writeErr(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, out)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg, "detail": msg})
}
