package target

import (
	"os"
	"slices"
	"strings"
)

// TempDirOf is the temp dir the harness gives an exec target whose base dir
// is baseDir: beside it (not in it), so clone state and staging are told
// apart, and both are watched for disk use.
func TempDirOf(baseDir string) string { return baseDir + tmpSuffix }

// The dirs the harness keeps beside an exec target's base dir.
const (
	tmpSuffix  = "-tmp"  // TMPDIR, TMP and TEMP (TempDirOf)
	logsSuffix = "-logs" // stdout/stderr logs when no artifact dir is given
)

// ExecBaseOf is the base dir an exec dir belongs to: path itself for a base
// dir, path without its suffix for its temp or logs dir beside it.
func ExecBaseOf(path string) string {
	for _, suf := range []string{tmpSuffix, logsSuffix} {
		if b, ok := strings.CutSuffix(path, suf); ok {
			return b
		}
	}
	return path
}

// targetEnv is an exec target's environment: the harness's own, then the
// settings (OPAL_ and bare names), then TMPDIR/TMP/TEMP, then the user's
// extra entries (they win over all before), then the process-tree marker
// (last: it always wins). Later entries replace earlier ones of the same
// key, as os/exec does, so the list is deduplicated here to show what the
// process really gets.
func targetEnv(s Settings, tmp string, extra []string, marker string) []string {
	env := slices.Clone(os.Environ())
	env = append(env, s.Env()...)
	env = append(env, "TMPDIR="+tmp, "TMP="+tmp, "TEMP="+tmp)
	env = append(env, extra...)
	if marker != "" {
		env = append(env, marker)
	}
	return dedupEnv(env)
}

// dedupEnv keeps the last entry of each key, in the order of first
// appearance.
func dedupEnv(env []string) []string {
	last := map[string]string{}
	var keys []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if _, seen := last[k]; !seen {
			keys = append(keys, k)
		}
		last[k] = kv
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, last[k])
	}
	return out
}
