package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/gitchaos/gitchaos/harness/dockerimg"
	"github.com/gitchaos/gitchaos/harness/faults"
	"github.com/gitchaos/gitchaos/harness/target"
	"github.com/gitchaos/gitchaos/harness/testbed"
	"github.com/gitchaos/gitchaos/harness/testbed/docker"
)

const testbedUsage = `usage:
  gitchaos testbed up [--docker] [--hosts H] [--repos N] [--seed S]
      start a testbed (in-process, or containers with --docker), print its
      description as JSON on stdout and run until interrupted (Ctrl-C), then
      remove everything it started
  gitchaos testbed images [--prune]
      build the gitchaos-gitserver and gitchaos-toxiproxy images when missing
      (what "make images" runs); --prune removes images of older builds
  gitchaos testbed sweep [--older-than DUR] [--force] [--temp-dir DIR]
      remove what killed runs left: exec targets' gitchaos-exec-* dirs in
      the temp dir (and any process still carrying their marker) whose
      owning gitchaos process is dead, and gitchaos containers and networks
      whose process is gone (default any age); --force removes every
      gitchaos container and network, also of runs still going (never
      the dirs of a live run)
`

func cmdTestbed(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, testbedUsage)
		return exitUsage
	}
	switch args[0] {
	case "up":
		return testbedUp(ctx, args[1:], stdout, stderr)
	case "images":
		return testbedImages(ctx, args[1:], stdout, stderr)
	case "sweep":
		return testbedSweep(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, testbedUsage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "gitchaos testbed: unknown subcommand %q\n%s", args[0], testbedUsage)
		return exitUsage
	}
}

// parseTestbedFlags parses fs, then reports leftover arguments as a usage error.
func parseTestbedFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (ok bool, code int) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return false, exitOK
		}
		return false, exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gitchaos %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return false, exitUsage
	}
	return true, exitOK
}

// Description is what `testbed up` prints: everything a user needs to point
// a target and `gitchaos fault` at the testbed.
type Description struct {
	Kind      string            `json:"kind"`
	Toxiproxy string            `json:"toxiproxy"` // toxiproxy API URL ("" if the testbed does not expose one)
	RunID     string            `json:"run_id,omitempty"`
	Images    *dockerimg.Refs   `json:"images,omitempty"`
	Hosts     []HostDescription `json:"hosts"`
	StartMS   int64             `json:"start_ms"`
	// SSH is what a target needs over --transport ssh (nil over HTTP).
	SSH *SSHDescription `json:"ssh,omitempty"`
}

// SSHDescription is the testbed's SSH key material: the client key its
// git servers accept (for OPAL's auth.private_key / public_key) and a
// known_hosts line trusting its host key.
type SSHDescription struct {
	User             string `json:"user"`
	KnownHosts       string `json:"known_hosts"`
	ClientPrivateKey string `json:"client_private_key"`
	ClientPublicKey  string `json:"client_public_key"`
}

// HostDescription describes one host of a testbed.
type HostDescription struct {
	Name     string            `json:"name"`
	URL      string            `json:"url"`       // base URL through the proxy
	AdminURL string            `json:"admin_url"` // git server admin API, no proxy
	Repos    []RepoDescription `json:"repos"`
}

// RepoDescription is one repo's clone URL through the proxy.
type RepoDescription struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	Head string `json:"head,omitempty"`
}

func describe(ctx context.Context, tb testbed.Testbed, took time.Duration) (Description, error) {
	d := Description{Kind: tb.Kind(), StartMS: took.Milliseconds()}
	if u, ok := tb.(interface{ ToxiproxyURL() string }); ok {
		d.Toxiproxy = u.ToxiproxyURL()
	}
	if dt, ok := tb.(*docker.Testbed); ok {
		d.RunID = dt.RunID()
		refs := dt.Images()
		d.Images = &refs
	}
	for _, h := range tb.Hosts() {
		hd := HostDescription{Name: h.Name, URL: h.URL, AdminURL: h.AdminURL, Repos: []RepoDescription{}}
		repos, err := h.Admin.ListRepos(ctx)
		if err != nil {
			return d, fmt.Errorf("list repos of %s: %w", h.Name, err)
		}
		for _, r := range repos {
			hd.Repos = append(hd.Repos, RepoDescription{Name: r.Name, URL: h.RepoURL(r.Name), Head: r.Head})
		}
		d.Hosts = append(d.Hosts, hd)
	}
	return d, nil
}

func testbedUp(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("testbed up", flag.ContinueOnError)
	fs.SetOutput(stderr)
	useDocker := fs.Bool("docker", false, "run git servers and toxiproxy in containers (default: in this process)")
	hosts := fs.Int("hosts", 2, "number of git hosts (h0, h1, ...)")
	repos := fs.Int("repos", 3, "repos seeded per host (r000, r001, ...)")
	seed := fs.Int64("seed", 1, "seed of the generated repos")
	transport := fs.String("transport", "", "what the hosts' URLs speak: http (default) or ssh (the JSON then carries the SSH keys)")
	if ok, code := parseTestbedFlags(fs, args, stderr); !ok {
		return code
	}
	if err := testbed.ValidateTransport(*transport); err != nil {
		fmt.Fprintf(stderr, "gitchaos testbed up: --%v\n", err)
		return exitUsage
	}
	if *hosts < 1 || *hosts > docker.MaxHosts {
		fmt.Fprintf(stderr, "gitchaos testbed up: --hosts %d: want 1..%d\n", *hosts, docker.MaxHosts)
		return exitUsage
	}
	if *repos < 0 {
		fmt.Fprintf(stderr, "gitchaos testbed up: --repos %d: want >= 0\n", *repos)
		return exitUsage
	}
	opts := testbed.Options{Hosts: *hosts, Repos: *repos, Seed: *seed, Transport: *transport}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	start := time.Now()
	var tb testbed.Testbed
	var err error
	if *useDocker {
		tb, err = docker.NewWithOptions(ctx, opts, docker.Options{Logger: logger})
	} else {
		tb, err = testbed.NewLocal(ctx, opts)
	}
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos testbed up: %v\n", err)
		return exitUsage
	}
	took := time.Since(start)
	// Whatever happens next, the testbed is removed: Close does not use ctx,
	// so it works after Ctrl-C cancelled it.
	defer func() {
		if err := tb.Close(); err != nil {
			fmt.Fprintf(stderr, "gitchaos testbed up: cleanup: %v\n", err)
		}
	}()

	d, err := describe(ctx, tb, took)
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos testbed up: %v\n", err)
		return exitFail
	}
	if *transport == testbed.TransportSSH {
		k, err := testbed.SSHKeys()
		if err != nil {
			fmt.Fprintf(stderr, "gitchaos testbed up: %v\n", err)
			return exitFail
		}
		d.SSH = &SSHDescription{User: testbed.SSHUser, KnownHosts: strings.TrimSpace(k.KnownHosts()),
			ClientPrivateKey: k.ClientPrivateKeyPEM, ClientPublicKey: k.ClientPublicKey}
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		fmt.Fprintf(stderr, "gitchaos testbed up: %v\n", err)
		return exitFail
	}
	if f, ok := stdout.(interface{ Sync() error }); ok {
		_ = f.Sync()
	}
	hint := ""
	if d.Toxiproxy != "" {
		hint = fmt.Sprintf("; faults: gitchaos fault add --toxiproxy %s --host %s blackhole", d.Toxiproxy, d.Hosts[0].Name)
	}
	fmt.Fprintf(stderr, "gitchaos testbed up: %s testbed with %d hosts ready in %s%s; Ctrl-C to stop\n",
		tb.Kind(), len(d.Hosts), took.Round(time.Millisecond), hint)
	<-ctx.Done()
	fmt.Fprintln(stderr, "gitchaos testbed up: stopping")
	return exitOK
}

func testbedImages(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("testbed images", flag.ContinueOnError)
	fs.SetOutput(stderr)
	prune := fs.Bool("prune", false, "also remove gitchaos images of older builds")
	if ok, code := parseTestbedFlags(fs, args, stderr); !ok {
		return code
	}
	start := time.Now()
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cli, err := docker.Client(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos testbed images: %v\n", err)
		return exitUsage
	}
	defer cli.Close()
	refs, err := dockerimg.Ensure(ctx, dockerimg.Options{Client: cli.Client, Logger: logger})
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos testbed images: %v\n", err)
		return exitFail
	}
	// The compose file names the images by a stable tag: point it at this build.
	for _, p := range []struct{ ref, latest string }{
		{refs.GitServer, dockerimg.GitServer.Name + ":latest"},
		{refs.Toxiproxy, dockerimg.Toxiproxy.Name + ":latest"},
	} {
		if err := dockerimg.Tag(ctx, cli.Client, p.ref, p.latest); err != nil {
			fmt.Fprintf(stderr, "gitchaos testbed images: %v\n", err)
			return exitFail
		}
	}
	fmt.Fprintf(stdout, "%s\n%s\n", refs.GitServer, refs.Toxiproxy)
	if *prune {
		removed, err := dockerimg.Prune(ctx, cli.Client, refs)
		for _, r := range removed {
			fmt.Fprintf(stderr, "removed %s\n", r)
		}
		if err != nil {
			fmt.Fprintf(stderr, "gitchaos testbed images: prune: %v\n", err)
			return exitFail
		}
	}
	fmt.Fprintf(stderr, "gitchaos testbed images: ready in %s from %s (tagged :latest for docker-compose.yml)\n", time.Since(start).Round(time.Millisecond), refs.From)
	return exitOK
}

func testbedSweep(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("testbed sweep", flag.ContinueOnError)
	fs.SetOutput(stderr)
	older := fs.Duration("older-than", 0, "remove only what was created longer ago than this")
	force := fs.Bool("force", false, "also remove containers and networks of runs still going")
	tempDir := fs.String("temp-dir", os.TempDir(), "where exec targets' gitchaos-exec-* dirs are")
	if ok, code := parseTestbedFlags(fs, args, stderr); !ok {
		return code
	}
	if *older < 0 {
		fmt.Fprintf(stderr, "gitchaos testbed sweep: --older-than %s: want >= 0\n", *older)
		return exitUsage
	}
	code := exitOK
	// First the disk-full gate's tmpfs of dead runs: an exec dir with one
	// mounted on it cannot be removed.
	mounts, err := faults.SweepTmpfs()
	for _, m := range mounts.Unmounted {
		fmt.Fprintf(stderr, "unmounted the tmpfs a dead run left on %s\n", m)
	}
	for _, m := range mounts.Unknown {
		fmt.Fprintf(stderr, "left the tmpfs on %s: its source names no owner (made by an older gitchaos); umount it by hand if no run uses it\n", m)
	}
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos testbed sweep: %v\n", err)
		code = exitFail
	}
	if len(mounts.Unmounted) > 0 {
		fmt.Fprintf(stdout, "unmounted %d disk-full tmpfs of dead runs\n", len(mounts.Unmounted))
	}
	res, err := target.SweepExecDirs(*tempDir)
	for _, d := range res.Removed {
		fmt.Fprintf(stderr, "removed %s\n", d)
	}
	for _, d := range res.Unknown {
		fmt.Fprintf(stderr, "left %s: its name names no owner (made by an older gitchaos); remove it by hand if no run uses it\n", d)
	}
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos testbed sweep: %v\n", err)
		code = exitFail
	}
	fmt.Fprintf(stdout, "removed %d exec target dirs of dead runs (%d of live runs left alone)\n", len(res.Removed), len(res.Live))
	var n int
	if *force {
		n, err = docker.SweepAll(ctx)
	} else {
		n, err = docker.Sweep(ctx, *older)
	}
	switch {
	case errors.Is(err, docker.ErrNoEngine):
		fmt.Fprintf(stdout, "no docker engine: no containers or networks to sweep (%v)\n", err)
	case err != nil:
		fmt.Fprintf(stderr, "gitchaos testbed sweep: %v\n", err)
		code = exitFail
	default:
		fmt.Fprintf(stdout, "removed %d gitchaos containers and networks\n", n)
	}
	return code
}
