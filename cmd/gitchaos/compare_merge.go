package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

const compareMergeUsage = `usage: gitchaos compare merge [--json | --markdown] [--html FILE] [--fail-on-undecided] [--alpha A] DIR ...

Joins the parts of a comparison split across CI runners: each ran
'gitchaos compare ... --shard i/n --out DIR' (base and head interleaved,
its own share of the scenarios) and keeps DIR/base-i/report.json and
DIR/head-i/report.json. The base runs of every DIR form one side, the head
runs the other; a check is found in its own shard's runs only, so each
check is judged on exactly the runs that measured it. Output and exit
status as 'gitchaos compare'.
`

func cmdCompareMerge(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("compare merge", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var out compareOutput
	out.register(fs)
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "gitchaos compare merge: "+format+"\n", a...)
		fmt.Fprint(stderr, "\n"+compareMergeUsage)
		return exitUsage
	}
	dirs, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, compareMergeUsage)
		return exitOK
	}
	switch {
	case err != nil:
		return fail("%v", err)
	case len(dirs) == 0:
		return fail("no part: name the --out DIR of every shard")
	case out.validate() != nil:
		return fail("%v", out.validate())
	}
	if err := ctx.Err(); err != nil {
		return fail("%v", err)
	}
	var sides [2][]string
	for _, d := range dirs {
		for s := range sides {
			got, err := pairReports(d, sideName(s))
			if err != nil {
				return fail("%v", err)
			}
			if len(got) == 0 {
				return fail("%s holds no %s-i/report.json: is it the --out DIR of a 'gitchaos compare' run?", d, sideName(s))
			}
			sides[s] = append(sides[s], got...)
		}
	}
	c, err := loadComparison(sides[0], sides[1])
	if err != nil {
		fmt.Fprintf(stderr, "gitchaos compare merge: %s\n", strings.ReplaceAll(err.Error(), "\n", "\n  "))
		return exitUsage
	}
	c.Design = interleavedDesign
	if len(dirs) > 1 {
		c.Design += ", in " + strconv.Itoa(len(dirs)) + " parts"
	}
	return c.finish(stdout, stderr, out)
}

// pairReports are dir/side-i/report.json in the order of i.
func pairReports(dir, side string) ([]string, error) {
	got, err := filepath.Glob(filepath.Join(dir, side+"-*", "report.json"))
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	num := func(p string) int {
		n, _ := strconv.Atoi(strings.TrimPrefix(filepath.Base(filepath.Dir(p)), side+"-"))
		return n
	}
	sort.SliceStable(got, func(i, j int) bool { return num(got[i]) < num(got[j]) })
	return got, nil
}
