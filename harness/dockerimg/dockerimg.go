// Package dockerimg builds gitchaos's two container images — the git server
// and toxiproxy with gitchaos's extra toxics — FROM scratch from one static
// multi-call gitchaos binary (its `gitserver` and `toxiproxy-server`
// commands), without any registry, from any working directory: the binary
// is the running executable when it is static, else it is built from the
// gitchaos module as the build list resolves it (see Ensure). The
// Dockerfiles are embedded. Each image is tagged with a content hash of the
// binary and its Dockerfile, so an unchanged binary is never built into an
// image twice.
package dockerimg

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/client"
)

// ModulePath is the Go module the images are built from.
const ModulePath = "github.com/gitchaos/gitchaos"

// MainPackage is the multi-call gitchaos command both images run: its
// `gitserver` and `toxiproxy-server` subcommands are the image entrypoints.
const MainPackage = ModulePath + "/cmd/gitchaos"

// Binary is the file name of the gitchaos binary in the build context and
// in the images (/gitchaos).
const Binary = "gitchaos"

// Labels. Images carry only LabelImage: they are a cache shared by runs
// (keyed by content hash), and containers inherit their image's labels, so
// an image labelled gitchaos=1 would make every container started from it
// by hand or by docker-compose look like a testbed leftover to the sweep.
const (
	LabelApp   = "gitchaos"       // "1" on every container and network a testbed creates
	LabelImage = "gitchaos.image" // the image's Name, on images
)

//go:embed gitserver.Dockerfile toxiproxy.Dockerfile
var dockerfiles embed.FS

// Image describes one gitchaos image.
type Image struct {
	Name       string // repository, e.g. "gitchaos-gitserver"; the tag is the content hash
	Dockerfile string // file name of its Dockerfile, embedded in this package
}

// The images. Both run the same static gitchaos binary.
var (
	GitServer = Image{Name: "gitchaos-gitserver", Dockerfile: "gitserver.Dockerfile"}
	Toxiproxy = Image{Name: "gitchaos-toxiproxy", Dockerfile: "toxiproxy.Dockerfile"}
)

// All lists every image.
func All() []Image { return []Image{GitServer, Toxiproxy} }

// DockerfileOf returns img's embedded Dockerfile.
func DockerfileOf(img Image) ([]byte, error) {
	data, err := dockerfiles.ReadFile(img.Dockerfile)
	if err != nil {
		return nil, fmt.Errorf("dockerimg: %s: Dockerfile %q: %w", img.Name, img.Dockerfile, err)
	}
	return data, nil
}

// Refs are the built image references (name:hash).
type Refs struct {
	GitServer string `json:"gitserver"`
	Toxiproxy string `json:"toxiproxy"`
	// From says where the images' binary came from: "executable PATH" or
	// "module DIR" (built there with go build).
	From string `json:"from,omitempty"`
}

// Options configures Ensure.
type Options struct {
	// Root is a gitchaos module source directory (holding its go.mod) to
	// build the binary from. Empty: see Ensure for where it comes from.
	Root string
	// Executable is a static linux gitchaos binary to put in the images as
	// is (no go build). Empty: see Ensure. Not with Root.
	Executable string
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
	if o.Root != "" && o.Executable != "" {
		return errors.New("dockerimg: Options.Root and Options.Executable are both set (one source for the binary)")
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
	cache   = map[string]string{} // binary source + image name -> ref already ensured in this process
	builds  int                   // calls of ensure (under cacheMu): the tests see the cache answer without one
)

// Ensure makes sure each image exists for a static gitchaos binary and
// returns their references. The binary comes from, in order:
//
//  1. Options.Executable, used as is (it must be a static linux gitchaos
//     binary for the engine's architecture);
//  2. Options.Root, else $GITCHAOS_ROOT: a gitchaos module source directory,
//     built there;
//  3. the running executable, when it is such a binary (an installed
//     `gitchaos` built with CGO_ENABLED=0) — nothing is built;
//  4. the gitchaos module as the build list resolves it: `go list -m` in
//     the working directory (the gitchaos checkout itself, or a module that
//     requires gitchaos, through its `replace` or the module cache), else
//     the module version recorded in the running executable's build info
//     (`go mod download`); built there.
//
// A build is `go build -trimpath -buildvcs=false ./cmd/gitchaos` with
// CGO_ENABLED=0 and GOOS/GOARCH of the engine. An image is built only when
// no image has its content hash (Dockerfile and binary). Within one process
// the result is cached per binary source and image.
func Ensure(ctx context.Context, opts Options) (Refs, error) {
	if err := opts.Validate(); err != nil {
		return Refs{}, err
	}
	imgs := opts.Images
	if imgs == nil {
		imgs = All()
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	goarch, err := engineArch(ctx, opts.Client)
	if err != nil {
		return Refs{}, err
	}
	src, err := findSource(ctx, opts, goarch, log)
	if err != nil {
		return Refs{}, err
	}
	cacheMu.Lock()
	defer cacheMu.Unlock()
	var missing []Image
	for _, img := range imgs {
		if _, ok := cache[src.key+"|"+img.Name]; !ok {
			missing = append(missing, img)
		}
	}
	if len(missing) > 0 {
		refs, err := ensure(ctx, src, goarch, opts, log, missing)
		if err != nil {
			return Refs{}, err
		}
		for i, img := range missing {
			cache[src.key+"|"+img.Name] = refs[i]
		}
	}
	r := Refs{From: src.String()}
	for _, img := range imgs {
		ref := cache[src.key+"|"+img.Name]
		switch img {
		case GitServer:
			r.GitServer = ref
		case Toxiproxy:
			r.Toxiproxy = ref
		}
	}
	return r, nil
}

// engineArch returns the engine's GOARCH, failing unless it runs linux
// containers.
func engineArch(ctx context.Context, cli *client.Client) (string, error) {
	v, err := cli.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return "", fmt.Errorf("dockerimg: docker engine version: %w", err)
	}
	if v.Os != "" && v.Os != "linux" {
		return "", fmt.Errorf("dockerimg: the docker engine runs %s containers; the images are linux", v.Os)
	}
	if v.Arch == "" {
		return runtime.GOARCH, nil
	}
	return v.Arch, nil
}

func ensure(ctx context.Context, src source, goarch string, opts Options, log *slog.Logger, imgs []Image) ([]string, error) {
	builds++
	bin := src.exe
	if bin == "" {
		dir, err := os.MkdirTemp("", "gitchaos-images-*")
		if err != nil {
			return nil, fmt.Errorf("dockerimg: temp dir: %w", err)
		}
		defer os.RemoveAll(dir)
		start := time.Now()
		bin = filepath.Join(dir, Binary)
		if err := runGoBuild(ctx, src.dir, bin, goarch, opts.BuildOutput); err != nil {
			return nil, err
		}
		log.Debug("dockerimg: binary built", "from", src.String(), "took", time.Since(start))
	}
	binary, err := os.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("dockerimg: read binary: %w", err)
	}
	refs := make([]string, 0, len(imgs))
	for _, img := range imgs {
		ref, built, err := ensureImage(ctx, opts.Client, img, binary)
		if err != nil {
			return nil, err
		}
		log.Info("dockerimg: image ready", "ref", ref, "built", built, "from", src.String())
		refs = append(refs, ref)
	}
	return refs, nil
}

func runGoBuild(ctx context.Context, root, out, goarch string, output io.Writer) error {
	// -mod=readonly over any GOFLAGS: never rewrite the go.mod of the
	// checkout or module copy built in.
	args := []string{"build", "-mod=readonly", "-trimpath", "-buildvcs=false", "-o", out, "./cmd/gitchaos"}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	// GOWORK=off: the binary is gitchaos's own module, whatever workspace
	// the caller is in.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch, "GOWORK=off")
	var buf bytes.Buffer
	if output != nil {
		cmd.Stdout, cmd.Stderr = output, output
	} else {
		cmd.Stdout, cmd.Stderr = &buf, &buf
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("dockerimg: go %s (in %s): %w\n%s", strings.Join(args, " "), root, err, buf.String())
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
func ensureImage(ctx context.Context, cli *client.Client, img Image, binary []byte) (ref string, built bool, err error) {
	dockerfile, err := DockerfileOf(img)
	if err != nil {
		return "", false, err
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
	}{{"Dockerfile", 0o644, dockerfile}, {Binary, 0o755, binary}} {
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
