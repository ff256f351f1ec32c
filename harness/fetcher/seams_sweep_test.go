package fetcher

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMutantTmpPackLeft: after a failed fetch the correct fetcher removes
// the temp files go-git and git leave under objects/ (tmp_pack_*,
// tmp_obj_*) and nothing else; tmp-pack-left keeps them. (The disk-full
// gate makes the failure real: a fetch into a full tmpfs.)
func TestMutantTmpPackLeft(t *testing.T) {
	for _, mutant := range []string{"", "tmp-pack-left"} {
		t.Run("mutant="+mutant, func(t *testing.T) {
			e := startEnv(t, testConfig(t, mutant))
			dir := t.TempDir()
			files := map[string]bool{ // path -> a temp file a failed write left
				"objects/pack/tmp_pack_123":      true,
				"objects/ab/tmp_obj_x9":          true,
				"objects/pack/pack-abc.pack":     false,
				"objects/pack/pack-abc.idx":      false,
				"refs/heads/tmp_pack_not_object": false,
			}
			for p := range files {
				full := filepath.Join(dir, p)
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(full, []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			e.f.strat.sweep.failed(e.f, &source{id: "s"}, dir)
			for p, temp := range files {
				_, err := os.Stat(filepath.Join(dir, p))
				gone := os.IsNotExist(err)
				if want := temp && mutant == ""; gone != want {
					t.Errorf("%s: removed %v, want %v", p, gone, want)
				}
			}
		})
	}
}
