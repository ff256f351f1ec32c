package probe

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"

	"github.com/shirou/gopsutil/v4/process"

	"github.com/gitchaos/gitchaos/harness/metric"
	"github.com/gitchaos/gitchaos/harness/proctree"
)

// Processes is the number of processes in a target's tree besides its
// root: workers, git children and helpers, zombies included (an exited
// child nobody reaped still counts).
const Processes = metric.Processes

// treeReaders read the metrics that harness/metric's table says a Tree
// source reads from the tree itself, given its processes (root first
// unless root is 0); Process metrics are summed over the live ones.
var treeReaders = []treeReader{
	{metric.Processes, func(root int, procs []proctree.Proc) float64 {
		if root == 0 {
			return float64(len(procs))
		}
		return float64(len(procs) - 1)
	}},
}

// treeReader reads one metric of a process tree.
type treeReader struct {
	metric string
	read   func(root int, procs []proctree.Proc) float64
}

// TreeOptions configure a Tree source.
type TreeOptions struct {
	// Marker is a proctree.Marker environment entry: processes carrying it
	// (and their descendants) belong to the tree even when parent links
	// lost them (re-parented helpers). "" = parent links only.
	Marker string
}

type treeSource struct {
	root int
	opts TreeOptions
	name string
}

// Tree measures a process tree: root, its descendants and the processes
// carrying opts.Marker (see proctree.Tree). fds, RSS, threads and CPU
// time are summed over the live processes of the tree (gopsutil per
// process); processes counts every process of the tree but root, zombies
// included. With root 0 the tree is the marked processes alone (children
// of an in-process target, told from the testbed's by the marker) and
// only processes is measured. A root that is gone (or a zombie) makes
// Sample fail with ErrProcessGone.
func Tree(root int, opts TreeOptions) (Source, error) {
	if root < 0 || (root == 0 && opts.Marker == "") {
		return nil, fmt.Errorf("probe: tree of pid %d with marker %q: want a pid > 0 or a marker", root, opts.Marker)
	}
	name := "tree of pid " + strconv.Itoa(root)
	if root == 0 {
		name = "processes marked " + opts.Marker
	} else if opts.Marker != "" {
		name += " (+ marked " + opts.Marker + ")"
	}
	return &treeSource{root: root, opts: opts, name: name}, nil
}

func (s *treeSource) Name() string { return s.name }

func (s *treeSource) Sample(ctx context.Context) (Sample, error) {
	if err := ctx.Err(); err != nil {
		return Sample{}, fmt.Errorf("probe: %s: %w", s.name, err)
	}
	procs, err := proctree.Tree(s.root, s.opts.Marker)
	if err != nil {
		return Sample{}, fmt.Errorf("probe: %s: %w", s.name, err)
	}
	smp := newSample()
	if s.root == 0 {
		s.putTree(&smp, procs)
		return smp, nil
	}
	if len(procs) == 0 || procs[0].PID != s.root {
		return Sample{}, fmt.Errorf("probe: %s: %w", s.name, ErrProcessGone)
	}
	if procs[0].Zombie() {
		return Sample{}, fmt.Errorf("probe: %s: zombie: %w", s.name, ErrProcessGone)
	}
	var live []*process.Process
	for i, pr := range procs {
		if pr.Zombie() {
			continue // no fds, memory or threads left; counted in processes
		}
		p, err := process.NewProcessWithContext(ctx, int32(pr.PID))
		if err != nil {
			if i == 0 {
				return Sample{}, fmt.Errorf("probe: %s: %w", s.name, ErrProcessGone)
			}
			continue // exited meanwhile
		}
		live = append(live, p)
	}
	t := sumProcesses(ctx, live)
	if t.gone() {
		if _, err := proctree.Read(s.root); errors.Is(err, fs.ErrNotExist) {
			return Sample{}, fmt.Errorf("probe: %s: %w", s.name, ErrProcessGone)
		}
	}
	t.put(&smp, s.name)
	s.putTree(&smp, procs)
	return smp, nil
}

// putTree records the treeReaders' metrics of procs in smp.
func (s *treeSource) putTree(smp *Sample, procs []proctree.Proc) {
	for _, r := range treeReaders {
		smp.set(r.metric, r.read(s.root, procs), s.name)
	}
}
