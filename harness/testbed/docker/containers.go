package docker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
	"github.com/testcontainers/testcontainers-go"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
	"github.com/gitchaos/gitchaos/harness/testbed"
)

func (tb *Testbed) start(ctx context.Context, opts testbed.Options) error {
	nw, err := tcnetwork.New(ctx, tcnetwork.WithLabels(tb.labels()))
	if err != nil {
		return fmt.Errorf("docker testbed: create network: %w", err)
	}
	tb.net = nw

	// Git servers and toxiproxy start concurrently.
	names := make([]string, opts.Hosts)
	for i := range names {
		names[i] = testbed.HostName(i)
	}
	tb.servers = make([]testcontainers.Container, opts.Hosts)
	errs := make([]error, opts.Hosts+1)
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			tb.servers[i], errs[i] = tb.startGitServer(ctx, name, opts.Transport)
		})
	}
	wg.Go(func() {
		tb.proxy, errs[opts.Hosts] = tb.startToxiproxy(ctx, opts.Hosts)
	})
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}

	apiPort, err := mappedPort(ctx, tb.proxy, APIPort)
	if err != nil {
		return err
	}
	tb.toxiURL = "http://127.0.0.1:" + apiPort
	tb.toxi = toxiclient.NewClient(tb.toxiURL)

	tb.hosts = make([]*testbed.Host, opts.Hosts)
	for i, name := range names {
		proxyPort, err := mappedPort(ctx, tb.proxy, FirstProxyPort+i)
		if err != nil {
			return err
		}
		adminPort, err := mappedPort(ctx, tb.servers[i], GitPort)
		if err != nil {
			return err
		}
		upstream, scheme := GitPort, "http://"
		if opts.Transport == testbed.TransportSSH {
			upstream, scheme = SSHPort, "ssh://"+testbed.SSHUser+"@"
		}
		p, err := tb.toxi.CreateProxy(name, "0.0.0.0:"+strconv.Itoa(FirstProxyPort+i), name+":"+strconv.Itoa(upstream))
		if err != nil {
			return fmt.Errorf("docker testbed: create proxy %s: %w", name, err)
		}
		adminURL := "http://127.0.0.1:" + adminPort
		tb.hosts[i] = &testbed.Host{
			Name:     name,
			URL:      scheme + "127.0.0.1:" + proxyPort,
			AdminURL: adminURL,
			Admin:    &gitserver.AdminClient{BaseURL: adminURL},
			Proxy:    p,
		}
	}

	for i := range errs {
		errs[i] = nil
	}
	for i, h := range tb.hosts {
		wg.Go(func() { errs[i] = seedRepos(ctx, i, h, opts) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// seedRepos creates the host's seeded repos through its admin API, with the
// names and seeds the local testbed uses (testbed.RepoName, testbed.RepoSeed),
// so both kinds serve the same commits for the same options.
func seedRepos(ctx context.Context, hostIndex int, h *testbed.Host, opts testbed.Options) error {
	for i := range opts.Repos {
		if _, err := h.CreateRepo(ctx, testbed.RepoName(i), testbed.RepoSeed(opts.Seed, hostIndex, i), opts.Spec); err != nil {
			return fmt.Errorf("docker testbed: seed: %w", err)
		}
	}
	return nil
}

func (tb *Testbed) startGitServer(ctx context.Context, name, transport string) (testcontainers.Container, error) {
	env, err := sshEnv(transport)
	if err != nil {
		return nil, err
	}
	c, err := testcontainers.Run(ctx, tb.refs.GitServer,
		testcontainers.WithEnv(env),
		testcontainers.WithName("gitchaos-"+tb.runID+"-"+name),
		testcontainers.WithLabels(tb.labels()),
		tcnetwork.WithNetwork([]string{name}, tb.net),
		testcontainers.WithExposedPorts(strconv.Itoa(GitPort)+"/tcp"),
		testcontainers.WithHostConfigModifier(loopbackPorts(GitPort)),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/_admin/repos").
			WithPort(strconv.Itoa(GitPort)+"/tcp").
			WithStartupTimeout(30*time.Second).
			WithPollInterval(50*time.Millisecond)),
	)
	if err != nil {
		return c, fmt.Errorf("docker testbed: start git server %s (%s): %w", name, tb.refs.GitServer, err)
	}
	return c, nil
}

func (tb *Testbed) startToxiproxy(ctx context.Context, hosts int) (testcontainers.Container, error) {
	ports := []int{APIPort}
	exposed := []string{strconv.Itoa(APIPort) + "/tcp"}
	for i := range hosts {
		ports = append(ports, FirstProxyPort+i)
		exposed = append(exposed, strconv.Itoa(FirstProxyPort+i)+"/tcp")
	}
	c, err := testcontainers.Run(ctx, tb.refs.Toxiproxy,
		testcontainers.WithName("gitchaos-"+tb.runID+"-toxiproxy"),
		testcontainers.WithLabels(tb.labels()),
		tcnetwork.WithNetwork([]string{"toxiproxy"}, tb.net),
		testcontainers.WithExposedPorts(exposed...),
		testcontainers.WithHostConfigModifier(loopbackPorts(ports...)),
		testcontainers.WithEnv(map[string]string{"LOG_LEVEL": "warn"}),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/version").
			WithPort(strconv.Itoa(APIPort)+"/tcp").
			WithStartupTimeout(30*time.Second).
			WithPollInterval(50*time.Millisecond)),
	)
	if err != nil {
		return c, fmt.Errorf("docker testbed: start toxiproxy (%s): %w", tb.refs.Toxiproxy, err)
	}
	return c, nil
}

func mappedPort(ctx context.Context, c testcontainers.Container, port int) (string, error) {
	p, err := c.MappedPort(ctx, strconv.Itoa(port)+"/tcp")
	if err != nil {
		return "", fmt.Errorf("docker testbed: published port of %d/tcp: %w", port, err)
	}
	return p.Port(), nil
}
