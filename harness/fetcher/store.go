package fetcher

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gitchaos/gitchaos/harness/scopeapi"
)

// scopeStore persists one JSON file per scope, written atomically (temp
// file, fsync, rename), so a torn write can only ever lose the scope being
// written, never the others.
type scopeStore struct {
	dir string
	log *slog.Logger
}

func openScopeStore(dir string, log *slog.Logger) (*scopeStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("scope store %s: %w", dir, err)
	}
	return &scopeStore{dir: dir, log: log}, nil
}

func (s *scopeStore) path(id string) string { return filepath.Join(s.dir, id+".json") }

// put writes the scope atomically.
func (s *scopeStore) put(sc scopeapi.Scope) error {
	b, err := json.MarshalIndent(sc, "", "  ")
	if err != nil {
		return fmt.Errorf("scope store: encode %s: %w", sc.ScopeID, err)
	}
	tmp, err := os.CreateTemp(s.dir, ".tmp-"+sc.ScopeID+"-*")
	if err != nil {
		return fmt.Errorf("scope store: %w", err)
	}
	name := tmp.Name()
	_, werr := tmp.Write(b)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(name)
		return fmt.Errorf("scope store: write %s: %w", sc.ScopeID, err)
	}
	if err := os.Rename(name, s.path(sc.ScopeID)); err != nil {
		os.Remove(name)
		return fmt.Errorf("scope store: commit %s: %w", sc.ScopeID, err)
	}
	return nil
}

func (s *scopeStore) delete(id string) error {
	if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("scope store: delete %s: %w", id, err)
	}
	return nil
}

// loadAll reads every scope; unreadable files are logged and skipped, and
// leftover temp files of torn writes are removed.
func (s *scopeStore) loadAll() ([]scopeapi.Scope, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("scope store: %w", err)
	}
	var out []scopeapi.Scope
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".tmp-") {
			os.Remove(filepath.Join(s.dir, name))
			continue
		}
		if !strings.HasSuffix(name, ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.dir, name))
		if err != nil {
			s.log.Error("scope store: unreadable scope file", "file", name, "err", err)
			continue
		}
		var sc scopeapi.Scope
		if err := json.Unmarshal(b, &sc); err != nil || sc.ScopeID+".json" != name {
			s.log.Error("scope store: corrupt scope file skipped", "file", name, "err", err)
			continue
		}
		out = append(out, sc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ScopeID < out[j].ScopeID })
	return out, nil
}
