package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/gitchaos/gitchaos/harness/result"
	"github.com/gitchaos/gitchaos/internal/gates"
	"github.com/gitchaos/gitchaos/reports"
)

// shardFlag is --shard i/n: run only shard i of n of the selection
// (scenarios for gate, rows for matrix), split round-robin in order.
type shardFlag struct {
	set   bool
	shard result.Shard
}

func (f *shardFlag) String() string {
	if !f.set {
		return ""
	}
	return f.shard.String()
}

func (f *shardFlag) Set(s string) error {
	sh, err := result.ParseShard(s)
	if err != nil {
		return err
	}
	f.set, f.shard = true, sh
	return nil
}

func (f *shardFlag) register(fs *flag.FlagSet, what string) {
	fs.Var(f, "shard", "`i/n`: run only shard i of n of the "+what+" (split round-robin; each CI runner takes one, 'gitchaos report merge' joins them)")
}

// pick returns the shard's part of items, recording the split in
// f.shard.Of; an empty part is an error (more shards than items).
func (f *shardFlag) pick(items []string, what string) ([]string, error) {
	got := f.shard.Pick(items)
	if len(got) == 0 {
		return nil, fmt.Errorf("--shard %s: %d %s split into %d shards leave shard %d empty; use at most %d shards", f.shard, len(items), what, f.shard.Total, f.shard.Index, len(items))
	}
	return got, nil
}

// shardGate narrows opts.Only to the shard's gates.
func (f *shardFlag) shardGate(opts *gates.Options) error {
	if !f.set {
		return nil
	}
	names := opts.Only
	if len(names) == 0 {
		names = gates.Names()
	}
	got, err := f.pick(names, "scenarios")
	if err != nil {
		return err
	}
	opts.Only = got
	return nil
}

// shardRows keeps the matrix rows of the shard.
func (f *shardFlag) shardRows(rows []*matrixRow) ([]*matrixRow, error) {
	if !f.set {
		return rows, nil
	}
	names := make([]string, len(rows))
	byName := map[string]*matrixRow{}
	for i, r := range rows {
		names[i] = r.name
		byName[r.name] = r
	}
	got, err := f.pick(names, "matrix rows")
	if err != nil {
		return nil, err
	}
	out := make([]*matrixRow, len(got))
	for i, n := range got {
		out[i] = byName[n]
	}
	return out, nil
}

// runSettings labels what a run's numbers depend on besides seed, target
// and testbed: report merge refuses parts whose labels differ.
func runSettings(opts gates.Options) string {
	s := settingsLabel(opts)
	if opts.Scopes > 0 {
		s += fmt.Sprintf(" scopes=%d", opts.Scopes)
	}
	return s
}

const reportMergeUsage = `usage: gitchaos report merge A/report.json B/report.json ... --out DIR

Joins the report.json of every shard of one sharded run ('gitchaos gate
--shard i/n --out DIR' on each CI runner) into one run, written to DIR in
all four formats (report.json, report.html, report.md, report.xml), with
each part's id, seed and shard recorded. The parts must agree on kind,
seed, target, testbed, mutants, settings and the selection that was split,
and be exactly shards 1..n, each once.

Exit status: 0 the merged run passed, 1 it failed, 2 usage error or parts
that cannot be merged.
`

// cmdReportMerge is `gitchaos report merge`.
func cmdReportMerge(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report merge", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	out := fs.String("out", "", "write the merged run to `DIR`")
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "gitchaos report merge: "+format+"\n", a...)
		fmt.Fprint(stderr, "\n"+reportMergeUsage)
		return exitUsage
	}
	inputs, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, reportMergeUsage)
		return exitOK
	}
	if err != nil {
		return fail("%v", err)
	}
	if *out == "" {
		return fail("--out DIR is required")
	}
	if len(inputs) == 0 {
		return fail("no report.json to merge")
	}
	if err := ctx.Err(); err != nil {
		fmt.Fprintf(stderr, "gitchaos report merge: %v\n", err)
		return exitUsage
	}
	parts := make([]*result.Run, 0, len(inputs))
	for _, in := range inputs {
		run, err := result.Load(in)
		if err != nil {
			fmt.Fprintf(stderr, "gitchaos report merge: %v\n", err)
			return exitUsage
		}
		parts = append(parts, run)
	}
	merged, err := result.Merge(parts, inputs)
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos report merge: %s\n", strings.ReplaceAll(err.Error(), "\n", "\n  "))
		return exitUsage
	}
	printTable(stdout, merged)
	if err := reports.WriteAll(*out, merged); err != nil {
		fmt.Fprintf(stderr, "gitchaos report merge: write reports: %v\n", err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "merged %d shards into %s\n", len(parts), filepath.Join(*out, "report.{json,html,md,xml}"))
	return exitCode(merged)
}
