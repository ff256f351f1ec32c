package dockerimg

import (
	"bufio"
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
)

// source is where the images' binary comes from: a ready executable, or a
// module directory to build it in.
type source struct {
	exe string // a static gitchaos binary used as is
	dir string // a gitchaos module source directory (go build there)
	via string // how dir was found, for messages
	key string // process cache key
}

func (s source) String() string {
	if s.exe != "" {
		return "executable " + s.exe
	}
	if s.via != "" {
		return "module " + s.dir + " (" + s.via + ")"
	}
	return "module " + s.dir
}

var (
	sourcesMu sync.Mutex
	sources   = map[string]source{} // inputs of findSource -> its answer, in this process
)

// findSource finds the binary's source once per process for the same
// inputs (options, $GITCHAOS_ROOT, working directory, architecture).
func findSource(ctx context.Context, opts Options, goarch string, log *slog.Logger) (source, error) {
	wd, _ := os.Getwd()
	key := strings.Join([]string{opts.Executable, opts.Root, os.Getenv("GITCHAOS_ROOT"), wd, goarch}, "\x00")
	sourcesMu.Lock()
	defer sourcesMu.Unlock()
	if s, ok := sources[key]; ok {
		return s, nil
	}
	s, err := findSourceUncached(ctx, opts, goarch, log)
	if err == nil {
		sources[key] = s
	}
	return s, err
}

func findSourceUncached(ctx context.Context, opts Options, goarch string, log *slog.Logger) (source, error) {
	if opts.Executable != "" {
		if err := CheckExecutable(opts.Executable, goarch); err != nil {
			return source{}, err
		}
		return exeSource(opts.Executable)
	}
	root, via := opts.Root, "Options.Root"
	if root == "" {
		root, via = os.Getenv("GITCHAOS_ROOT"), "GITCHAOS_ROOT"
	}
	if root != "" {
		dir, err := ModuleRoot(root)
		if err != nil {
			return source{}, fmt.Errorf("%s: %w", via, err)
		}
		return source{dir: dir, via: via, key: "mod:" + dir}, nil
	}
	var tried []string
	if exe, err := os.Executable(); err != nil {
		tried = append(tried, fmt.Sprintf("running executable: %v", err))
	} else if err := CheckExecutable(exe, goarch); err != nil {
		tried = append(tried, err.Error())
		log.Debug("dockerimg: running executable not usable in the images", "why", err)
	} else {
		return exeSource(exe)
	}
	dir, via, err := FindModule(ctx)
	if err != nil {
		tried = append(tried, err.Error())
		return source{}, fmt.Errorf("dockerimg: no static gitchaos binary and no gitchaos module to build one from (install it with CGO_ENABLED=0 go install %s@VERSION, run from a module that requires %s, or set GITCHAOS_ROOT to a checkout):\n  %s",
			MainPackage, ModulePath, strings.Join(tried, "\n  "))
	}
	return source{dir: dir, via: via, key: "mod:" + dir}, nil
}

func exeSource(exe string) (source, error) {
	fi, err := os.Stat(exe)
	if err != nil {
		return source{}, fmt.Errorf("dockerimg: executable: %w", err)
	}
	return source{exe: exe, key: fmt.Sprintf("exe:%s:%d:%d", exe, fi.Size(), fi.ModTime().UnixNano())}, nil
}

// CheckExecutable returns nil when path is a gitchaos binary (main package
// MainPackage) for linux/goarch that is statically linked, so it runs in a
// FROM scratch image; else an error saying why not.
func CheckExecutable(path, goarch string) error {
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return fmt.Errorf("dockerimg: executable %s: no Go build info: %w", path, err)
	}
	if info.Path != MainPackage {
		return fmt.Errorf("dockerimg: executable %s is %s, not %s", path, info.Path, MainPackage)
	}
	set := map[string]string{}
	for _, s := range info.Settings {
		set[s.Key] = s.Value
	}
	if set["GOOS"] != "linux" || set["GOARCH"] != goarch {
		return fmt.Errorf("dockerimg: executable %s is built for %s/%s, the engine runs linux/%s", path, set["GOOS"], set["GOARCH"], goarch)
	}
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("dockerimg: executable %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("dockerimg: executable %s is dynamically linked (CGO_ENABLED=%s); build it with CGO_ENABLED=0", path, set["CGO_ENABLED"])
		}
	}
	return nil
}

// FindModule returns the source directory of the gitchaos module as the
// build list resolves it, and how it was found: `go list -m` in the
// working directory (the gitchaos checkout itself, or a module requiring
// gitchaos: its replace directory or its module cache copy), else the
// gitchaos module version recorded in the running executable's build info,
// fetched into the module cache with `go mod download`.
func FindModule(ctx context.Context) (dir, via string, err error) {
	var errs []error
	m, err := goListModule(ctx)
	if err == nil {
		if m.Dir != "" {
			dir, err := ModuleRoot(m.Dir)
			if err == nil {
				return dir, "go list -m " + ModulePath, nil
			}
			errs = append(errs, err)
		} else if m.Version != "" {
			dir, err := download(ctx, ModulePath+"@"+m.Version)
			if err == nil {
				return dir, "go list -m " + ModulePath + ": " + m.Version, nil
			}
			errs = append(errs, err)
		}
	} else {
		errs = append(errs, err)
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		dir, via, err := fromBuildInfo(ctx, info)
		if err == nil {
			return dir, via, nil
		}
		errs = append(errs, err)
	}
	return "", "", errors.Join(errs...)
}

type listedModule struct {
	Path    string
	Version string
	Dir     string
	Main    bool
}

func goListModule(ctx context.Context) (listedModule, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-json", ModulePath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return listedModule{}, fmt.Errorf("dockerimg: go list -m %s in the working directory: %w: %s", ModulePath, err, strings.TrimSpace(stderr.String()))
	}
	var m listedModule
	if err := json.Unmarshal(out, &m); err != nil {
		return listedModule{}, fmt.Errorf("dockerimg: go list -m %s: %w", ModulePath, err)
	}
	return m, nil
}

// fromBuildInfo finds the gitchaos module the running binary was built
// from: its main module (go install …@version) or its dependency (with
// its replacement).
func fromBuildInfo(ctx context.Context, info *debug.BuildInfo) (dir, via string, err error) {
	mods := append([]*debug.Module{&info.Main}, info.Deps...)
	for _, m := range mods {
		if m.Path != ModulePath {
			continue
		}
		if r := m.Replace; r != nil {
			if r.Version == "" {
				dir, err := ModuleRoot(r.Path)
				if err != nil {
					return "", "", fmt.Errorf("dockerimg: build info: replacement %s: %w", r.Path, err)
				}
				return dir, "build info: replaced by " + r.Path, nil
			}
			m = r
		}
		if m.Version == "" || m.Version == "(devel)" {
			return "", "", fmt.Errorf("dockerimg: build info: %s has no version (%q) to fetch", m.Path, m.Version)
		}
		dir, err := download(ctx, m.Path+"@"+m.Version)
		if err != nil {
			return "", "", err
		}
		return dir, "build info: " + m.Path + "@" + m.Version, nil
	}
	return "", "", fmt.Errorf("dockerimg: the running executable (%s) is not built with %s", info.Path, ModulePath)
}

// download fetches mod@version into the module cache and returns its
// directory. It runs outside any module.
func download(ctx context.Context, modVersion string) (string, error) {
	tmp, err := os.MkdirTemp("", "gitchaos-moddl-*")
	if err != nil {
		return "", fmt.Errorf("dockerimg: temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", modVersion)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOWORK=off", "GO111MODULE=on")
	out, err := cmd.Output()
	var res struct{ Dir, Error string }
	_ = json.Unmarshal(out, &res)
	if err != nil || res.Dir == "" {
		msg := res.Error
		var ee *exec.ExitError
		if msg == "" && errors.As(err, &ee) {
			msg = strings.TrimSpace(string(ee.Stderr))
		}
		return "", fmt.Errorf("dockerimg: go mod download %s: %v: %s", modVersion, err, msg)
	}
	return ModuleRoot(res.Dir)
}

// ModuleRoot returns root when it holds the gitchaos module's go.mod
// (absolute), else an error naming what is wrong.
func ModuleRoot(root string) (string, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", fmt.Errorf("dockerimg: module root %s: %w", root, err)
	}
	data, err := os.ReadFile(filepath.Join(abs, "go.mod"))
	if err != nil {
		return "", fmt.Errorf("dockerimg: module root %s: %w", root, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "module "); ok {
			if name := strings.Trim(strings.TrimSpace(rest), `"`); name != ModulePath {
				return "", fmt.Errorf("dockerimg: %s/go.mod is not module %s (it is %s)", root, ModulePath, name)
			}
			return abs, nil
		}
	}
	return "", fmt.Errorf("dockerimg: %s/go.mod is not module %s (no module line)", root, ModulePath)
}
