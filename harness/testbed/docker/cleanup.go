package docker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gitchaos/gitchaos/harness/guard"
	"github.com/gitchaos/gitchaos/harness/owner"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

var loopback = netip.MustParseAddr("127.0.0.1")

func clientPingOptions() client.PingOptions { return client.PingOptions{} }

// Sweep removes gitchaos containers and networks (label gitchaos=1) created
// more than olderThan ago, whatever run made it, except those whose
// creating process still runs on this machine: what a killed earlier run
// (kill -9, a crashed test binary) left behind. New calls it with SweepAge.
// It returns how many objects it removed.
func Sweep(ctx context.Context, olderThan time.Duration) (int, error) {
	cli, err := Client(ctx)
	if err != nil {
		return 0, err
	}
	defer cli.Close()
	return sweep(ctx, cli, olderThan)
}

// SweepAll removes every gitchaos container and network, including those
// of runs still going (`gitchaos testbed sweep --force`).
func SweepAll(ctx context.Context) (int, error) {
	cli, err := Client(ctx)
	if err != nil {
		return 0, err
	}
	defer cli.Close()
	return removeLabelled(ctx, cli, LabelApp+"=1", 0, false)
}

func sweep(ctx context.Context, cli *testcontainers.DockerClient, olderThan time.Duration) (int, error) {
	return removeLabelled(ctx, cli, LabelApp+"=1", olderThan, true)
}

// Leftovers lists the names of containers and networks carrying the label
// filter (e.g. "gitchaos.run=abc"), for checks that nothing is left.
func Leftovers(ctx context.Context, label string) ([]string, error) {
	cli, err := Client(ctx)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	f := make(client.Filters).Add("label", label)
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("docker: list containers: %w", err)
	}
	var out []string
	for _, c := range cs.Items {
		out = append(out, "container "+strings.Join(c.Names, ",")+" ("+string(c.State)+")")
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("docker: list networks: %w", err)
	}
	for _, n := range ns.Items {
		out = append(out, "network "+n.Name)
	}
	return out, nil
}

// createdBefore reports whether an object labelled with LabelCreated (or,
// without it, created at fallback) is older than cutoff.
func createdBefore(labels map[string]string, fallback time.Time, cutoff time.Time) bool {
	created := fallback
	if s, ok := labels[LabelCreated]; ok {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			created = time.Unix(n, 0)
		}
	}
	return created.Before(cutoff)
}

// hostname is this machine's name, for LabelHost ("" if unknown).
func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	return h
}

// ownerAlive reports whether the labels name a process that still runs on
// this machine. With gitchaos.owner the pid's start time must match too (a
// reused pid is not the owner). Signal 0 probes without signalling; EPERM
// means the process exists but belongs to someone else.
func ownerAlive(labels map[string]string) bool {
	if labels[LabelHost] == "" || labels[LabelHost] != hostname() {
		return false
	}
	if id, err := owner.Parse(labels[LabelOwner]); err == nil {
		return id.Alive()
	}
	pid, err := strconv.Atoi(labels[LabelPID])
	if err != nil || pid <= 0 || labels[LabelHost] == "" || labels[LabelHost] != hostname() {
		return false
	}
	if pid == os.Getpid() {
		return true
	}
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// removeLabelled force-removes containers, then networks, matching the
// label filter and older than olderThan (0: any age); with spareLive it
// skips objects whose owner process is alive.
func removeLabelled(ctx context.Context, cli *testcontainers.DockerClient, label string, olderThan time.Duration, spareLive bool) (int, error) {
	cutoff := time.Now().Add(-olderThan)
	if olderThan <= 0 {
		cutoff = time.Now().Add(time.Hour) // everything
	}
	f := make(client.Filters).Add("label", label)
	var errs []error
	removed := 0
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return 0, fmt.Errorf("docker: list containers %s: %w", label, err)
	}
	for _, c := range cs.Items {
		if !stale(c.Labels, time.Unix(c.Created, 0), cutoff, spareLive) {
			continue
		}
		if _, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !isGone(err) {
			errs = append(errs, fmt.Errorf("docker: remove container %v: %w", c.Names, err))
			continue
		}
		removed++
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return removed, errors.Join(append(errs, fmt.Errorf("docker: list networks %s: %w", label, err))...)
	}
	for _, n := range ns.Items {
		if !stale(n.Labels, time.Time(n.Created), cutoff, spareLive) {
			continue
		}
		if _, err := cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !isGone(err) {
			errs = append(errs, fmt.Errorf("docker: remove network %s: %w", n.Name, err))
			continue
		}
		removed++
	}
	return removed, errors.Join(errs...)
}

// ownerDead reports whether the labels name an owner on this machine that
// is known to be gone (the object may go at any age).
func ownerDead(labels map[string]string) bool {
	if labels[LabelHost] == "" || labels[LabelHost] != hostname() {
		return false
	}
	id, err := owner.Parse(labels[LabelOwner])
	return err == nil && !id.Alive()
}

// stale reports whether an object may go: with spareLive, never while its
// owner runs, at any age once its owner is known dead, else once older
// than cutoff.
func stale(labels map[string]string, created, cutoff time.Time, spareLive bool) bool {
	if spareLive && ownerAlive(labels) {
		return false
	}
	if spareLive && ownerDead(labels) {
		return true
	}
	return createdBefore(labels, created, cutoff)
}

// guardHook is the guard hook that removes a run's containers and network
// (by its gitchaos.run label) after its process died.
const guardHook = "docker-run"

func init() {
	guard.RegisterHook(guardHook, removeRun)
}

// removeRun removes everything labelled with run; a second pass after a
// short settle catches a creation the dead process had in flight.
func removeRun(ctx context.Context, run string) error {
	cli, err := Client(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	for pass := 0; pass < 2; pass++ {
		if pass > 0 {
			time.Sleep(abortSettle) // let an abandoned creation finish, then look again
		}
		if _, err := removeLabelled(ctx, cli, LabelRun+"="+run, 0, false); err != nil {
			return err
		}
	}
	return nil
}

func isGone(err error) bool {
	s := err.Error()
	return strings.Contains(s, "No such") || strings.Contains(s, "not found") || strings.Contains(s, "already in progress")
}

// Live testbeds of this process, for CloseAll.
var (
	liveMu sync.Mutex
	live   = map[*Testbed]struct{}{}
)

func register(tb *Testbed) {
	liveMu.Lock()
	live[tb] = struct{}{}
	liveMu.Unlock()
}

func unregister(tb *Testbed) {
	liveMu.Lock()
	delete(live, tb)
	liveMu.Unlock()
}

// CloseAll closes every docker testbed of this process that is still open.
func CloseAll() error {
	liveMu.Lock()
	tbs := make([]*Testbed, 0, len(live))
	for tb := range live {
		tbs = append(tbs, tb)
	}
	liveMu.Unlock()
	var errs []error
	for _, tb := range tbs {
		errs = append(errs, tb.Close())
	}
	return errors.Join(errs...)
}

// CloseOnSignal makes SIGINT and SIGTERM close every live docker testbed
// and then exit the process with status 130 (SIGINT) or 143 (SIGTERM). It is
// meant for processes that do not otherwise handle signals, such as test
// binaries (call it from TestMain); programs that cancel a context on a
// signal and Close their testbed need nothing. Call stop to undo it.
func CloseOnSignal() (stop func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case s := <-sigs:
			fmt.Fprintf(os.Stderr, "gitchaos: %v: removing docker testbeds\n", s)
			if err := CloseAll(); err != nil {
				fmt.Fprintf(os.Stderr, "gitchaos: cleanup: %v\n", err)
			}
			code := 130
			if s == syscall.SIGTERM {
				code = 143
			}
			os.Exit(code)
		case <-done:
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(sigs)
			close(done)
			<-finished
		})
	}
}
