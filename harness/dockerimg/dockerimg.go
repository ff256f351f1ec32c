// Package dockerimg builds gitchaos's two container images — the git server
// (cmd/gitserver) and toxiproxy with gitchaos's extra toxics
// (cmd/toxiproxy-server) — FROM scratch from static binaries, without any
// registry. Each image is tagged with a content hash of its binary and its
// Dockerfile, so an unchanged binary is never built into an image twice.
package dockerimg

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/client"
)

// ModulePath is the Go module the images are built from.
const ModulePath = "github.com/gitchaos/gitchaos"

// Labels. Images carry only LabelImage: they are a cache shared by runs
// (keyed by content hash), and containers inherit their image's labels, so
// an image labelled gitchaos=1 would make every container started from it
// by hand or by docker-compose look like a testbed leftover to the sweep.
const (
	LabelApp   = "gitchaos"       // "1" on every container and network a testbed creates
	LabelImage = "gitchaos.image" // the image's Name, on images
)

// Image describes one gitchaos image.
type Image struct {
	Name       string // repository, e.g. "gitchaos-gitserver"; the tag is the content hash
	Package    string // main package relative to the module root, e.g. "./cmd/gitserver"
	Binary     string // file name of the binary in the build context (what the Dockerfile COPYs)
	Dockerfile string // path relative to the module root
}

// The images.
var (
	GitServer = Image{Name: "gitchaos-gitserver", Package: "./cmd/gitserver", Binary: "gitserver", Dockerfile: "fixtures/docker/gitserver.Dockerfile"}
	Toxiproxy = Image{Name: "gitchaos-toxiproxy", Package: "./cmd/toxiproxy-server", Binary: "toxiproxy-server", Dockerfile: "fixtures/docker/toxiproxy.Dockerfile"}
)

// All lists every image.
func All() []Image { return []Image{GitServer, Toxiproxy} }

// Refs are the built image references (name:hash).
type Refs struct {
	GitServer string `json:"gitserver"`
	Toxiproxy string `json:"toxiproxy"`
}

// Options configures Ensure.
type Options struct {
	// Root is the module root holding go.mod. Empty: $GITCHAOS_ROOT, else
	// the module of the working directory (`go env GOMOD`).
	Root string
	// Client is the docker client to use (required).
	Client *client.Client
	// Logger (nil: discard).
	Logger *slog.Logger
	// Stdout/Stderr of `go build` (nil: captured into the error).
	BuildOutput io.Writer
	// Images to ensure (nil: All()). Refs has a reference only for these.
	Images []Image
}

// Validate reports what is wrong with o.
func (o Options) Validate() error {
	if o.Client == nil {
		return errors.New("dockerimg: Options.Client is nil")
	}
	for _, img := range o.Images {
		if img != GitServer && img != Toxiproxy {
			return fmt.Errorf("dockerimg: Options.Images: unknown image %q (want %s or %s)", img.Name, GitServer.Name, Toxiproxy.Name)
		}
	}
	return nil
}

var (
	cacheMu sync.Mutex
	cache   = map[string]string{} // module root + image name -> ref already ensured in this process
)

// Ensure builds the binaries with `go build` (CGO_ENABLED=0, -trimpath,
// -buildvcs=false, so the binary depends only on the source) and builds each
// image whose content hash has no image yet. Within one process the result
// is cached per module root and image: later calls return at once.
func Ensure(ctx context.Context, opts Options) (Refs, error) {
	if err := opts.Validate(); err != nil {
		return Refs{}, err
	}
	root, err := ModuleRoot(opts.Root)
	if err != nil {
		return Refs{}, err
	}
	imgs := opts.Images
	if imgs == nil {
		imgs = All()
	}
	cacheMu.Lock()
	defer cacheMu.Unlock()
	var missing []Image
	for _, img := range imgs {
		if _, ok := cache[root+"|"+img.Name]; !ok {
			missing = append(missing, img)
		}
	}
	if len(missing) > 0 {
		refs, err := ensure(ctx, root, opts, missing)
		if err != nil {
			return Refs{}, err
		}
		for i, img := range missing {
			cache[root+"|"+img.Name] = refs[i]
		}
	}
	var r Refs
	for _, img := range imgs {
		ref := cache[root+"|"+img.Name]
		switch img {
		case GitServer:
			r.GitServer = ref
		case Toxiproxy:
			r.Toxiproxy = ref
		}
	}
	return r, nil
}

func ensure(ctx context.Context, root string, opts Options, imgs []Image) ([]string, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir, err := os.MkdirTemp("", "gitchaos-images-*")
	if err != nil {
		return nil, fmt.Errorf("dockerimg: temp dir: %w", err)
	}
	defer os.RemoveAll(dir)

	start := time.Now()
	pkgs := make([]string, len(imgs))
	for i, img := range imgs {
		pkgs[i] = img.Package
	}
	if err := runGoBuild(ctx, root, dir, opts.BuildOutput, pkgs); err != nil {
		return nil, err
	}
	log.Debug("dockerimg: binaries built", "took", time.Since(start))

	refs := make([]string, 0, len(imgs))
	for _, img := range imgs {
		ref, built, err := ensureImage(ctx, opts.Client, root, dir, img)
		if err != nil {
			return nil, err
		}
		log.Info("dockerimg: image ready", "ref", ref, "built", built)
		refs = append(refs, ref)
	}
	return refs, nil
}

// ModuleRoot returns the directory holding gitchaos's go.mod: root when
// given, else $GITCHAOS_ROOT, else the module of the working directory.
func ModuleRoot(root string) (string, error) {
	if root == "" {
		root = os.Getenv("GITCHAOS_ROOT")
	}
	if root == "" {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			return "", fmt.Errorf("dockerimg: find module root with `go env GOMOD` (is Go installed? or set GITCHAOS_ROOT): %w", err)
		}
		gomod := strings.TrimSpace(string(out))
		if gomod == "" || gomod == os.DevNull {
			return "", errors.New("dockerimg: the working directory is not inside the gitchaos module; run from the repo or set GITCHAOS_ROOT")
		}
		root = filepath.Dir(gomod)
	}
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", fmt.Errorf("dockerimg: module root %s: %w", root, err)
	}
	first, _, _ := strings.Cut(string(data), "\n")
	if strings.TrimSpace(first) != "module "+ModulePath {
		return "", fmt.Errorf("dockerimg: %s/go.mod is not module %s (first line %q); run from the gitchaos repo or set GITCHAOS_ROOT", root, ModulePath, first)
	}
	return root, nil
}

func runGoBuild(ctx context.Context, root, dir string, out io.Writer, pkgs []string) error {
	args := append([]string{"build", "-trimpath", "-buildvcs=false", "-o", dir + string(os.PathSeparator)}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	var buf bytes.Buffer
	if out != nil {
		cmd.Stdout, cmd.Stderr = out, out
	} else {
		cmd.Stdout, cmd.Stderr = &buf, &buf
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("dockerimg: go %s: %w\n%s", strings.Join(args, " "), err, buf.String())
	}
	return nil
}

// Hash is the content hash of an image: sha256 over the Dockerfile and the
// binary, as hex.
func Hash(dockerfile, binary []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "dockerfile %d\n", len(dockerfile))
	h.Write(dockerfile)
	fmt.Fprintf(h, "binary %d\n", len(binary))
	h.Write(binary)
	return hex.EncodeToString(h.Sum(nil))
}

// ensureImage returns img's reference, building it when it does not exist.
func ensureImage(ctx context.Context, cli *client.Client, root, bindir string, img Image) (ref string, built bool, err error) {
	dockerfile, err := os.ReadFile(filepath.Join(root, img.Dockerfile))
	if err != nil {
		return "", false, fmt.Errorf("dockerimg: %s: %w", img.Name, err)
	}
	binary, err := os.ReadFile(filepath.Join(bindir, img.Binary))
	if err != nil {
		return "", false, fmt.Errorf("dockerimg: %s: built binary: %w", img.Name, err)
	}
	ref = img.Name + ":" + Hash(dockerfile, binary)[:16]
	if _, err := cli.ImageInspect(ctx, ref); err == nil {
		return ref, false, nil
	}
	if err := buildImage(ctx, cli, img, ref, dockerfile, binary); err != nil {
		return "", false, err
	}
	return ref, true, nil
}

func buildImage(ctx context.Context, cli *client.Client, img Image, ref string, dockerfile, binary []byte) error {
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	now := time.Unix(0, 0)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, dockerfile}, {img.Binary, 0o755, binary}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: now, Typeflag: tar.TypeReg}); err != nil {
			return fmt.Errorf("dockerimg: %s: build context: %w", img.Name, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return fmt.Errorf("dockerimg: %s: build context: %w", img.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("dockerimg: %s: build context: %w", img.Name, err)
	}
	res, err := cli.ImageBuild(ctx, &tarball, client.ImageBuildOptions{
		Tags:        []string{ref},
		Dockerfile:  "Dockerfile",
		Remove:      true,
		ForceRemove: true,
		Labels:      map[string]string{LabelImage: img.Name},
		Version:     build.BuilderV1,
	})
	if err != nil {
		return fmt.Errorf("dockerimg: build %s: %w", ref, err)
	}
	defer res.Body.Close()
	// The body is a JSON message stream; a failed step is an "error" message.
	dec := json.NewDecoder(res.Body)
	var logTail []string
	for {
		var msg struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			break
		} else if err != nil {
			return fmt.Errorf("dockerimg: build %s: reading build output: %w", ref, err)
		}
		if msg.Error != "" {
			return fmt.Errorf("dockerimg: build %s: %s\n%s", ref, msg.Error, strings.Join(logTail, ""))
		}
		logTail = append(logTail, msg.Stream)
	}
	if _, err := cli.ImageInspect(ctx, ref); err != nil {
		return fmt.Errorf("dockerimg: build %s finished but the image is missing: %w", ref, err)
	}
	return nil
}

// Prune removes gitchaos images of older content hashes (any image labelled
// gitchaos.image whose tags do not include keep). Images still used by a
// container are left alone. It returns the removed references.
func Prune(ctx context.Context, cli *client.Client, keep Refs) ([]string, error) {
	res, err := cli.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("label", LabelImage)})
	if err != nil {
		return nil, fmt.Errorf("dockerimg: list images: %w", err)
	}
	var removed []string
	var errs []error
	for _, im := range res.Items {
		current := false
		for _, t := range im.RepoTags {
			if t == keep.GitServer || t == keep.Toxiproxy || strings.HasSuffix(t, ":latest") {
				current = true
			}
		}
		if current {
			continue
		}
		if _, err := cli.ImageRemove(ctx, im.ID, client.ImageRemoveOptions{PruneChildren: true}); err != nil {
			if strings.Contains(err.Error(), "being used") || strings.Contains(err.Error(), "conflict") {
				continue
			}
			errs = append(errs, fmt.Errorf("dockerimg: remove image %v: %w", im.RepoTags, err))
			continue
		}
		removed = append(removed, strings.Join(im.RepoTags, ","))
	}
	return removed, errors.Join(errs...)
}

// Tag adds the reference target (e.g. "gitchaos-gitserver:latest") to the
// image ref.
func Tag(ctx context.Context, cli *client.Client, ref, target string) error {
	if _, err := cli.ImageTag(ctx, client.ImageTagOptions{Source: ref, Target: target}); err != nil {
		return fmt.Errorf("dockerimg: tag %s as %s: %w", ref, target, err)
	}
	return nil
}
