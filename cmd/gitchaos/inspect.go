package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/gitchaos/gitchaos/harness/forensics"
)

const inspectUsage = `usage: gitchaos inspect --pid PID [--base-dir DIR]... [--peer ADDR=ROLE]... [--id ID]... [--json] [--top N]
       gitchaos inspect --diff A.json B.json [--cycles N] [--id ID]... [--json] [--top N]

Prints a forensic snapshot of a running process and all its descendants,
read from /proc: open fds (files, deleted files still open, sockets with
their peer and TCP state), mapped files, the anon/file memory split,
threads and what each blocks on, child processes (zombies too) and the
files under the given dirs, debris (tmp_pack_*, *.lock, ...) marked. It
works on any process of any language that this user may read; what it
cannot read is listed as unreadable, never left out.

--diff compares two snapshots saved with --json (a baseline, then one
taken later) by signature: ids, temp suffixes, pids and ephemeral ports
become placeholders, and each group that grew is printed with its growth
and one example. See docs/forensics.md.

  --pid PID          the process to inspect
  --base-dir DIR     a dir whose files to list (the server's base dir first); repeatable
  --peer ADDR=ROLE   name the role of a socket address, e.g. 127.0.0.1:9000="git host h1"; repeatable
  --id ID            a known id (scope or source id) that signatures replace by <id>; repeatable
  --json             print the whole snapshot (or diff) as JSON
  --diff             compare the two saved snapshots A.json B.json
  --cycles N         with --diff: cycles between A and B, for the growth per cycle (default 0: growth)
  --top N            groups to print (default 20; 0 for all)

Exit status: 0 printed, 2 usage error, no such process, or an unreadable
or invalid snapshot file.
`

// repeated is a repeatable flag that keeps each value whole.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, " ") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// cmdInspect prints a forensic snapshot of a process, or the diff of two
// saved snapshots.
func cmdInspect(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		pid              int
		dirs, peers, ids repeated
		asJSON, diff     bool
		cycles, top      int
	)
	fs.IntVar(&pid, "pid", 0, "")
	fs.Var(&dirs, "base-dir", "")
	fs.Var(&peers, "peer", "")
	fs.Var(&ids, "id", "")
	fs.BoolVar(&asJSON, "json", false, "")
	fs.BoolVar(&diff, "diff", false, "")
	fs.IntVar(&cycles, "cycles", 0, "")
	fs.IntVar(&top, "top", 20, "")
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "gitchaos inspect: "+format+"\n", a...)
		return exitUsage
	}
	usageErr := func(format string, a ...any) int {
		fail(format, a...)
		fmt.Fprint(stderr, "\n"+inspectUsage)
		return exitUsage
	}
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, inspectUsage)
		return exitOK
	}
	if err != nil {
		return usageErr("%v", err)
	}
	pidSet := false
	fs.Visit(func(f *flag.Flag) { pidSet = pidSet || f.Name == "pid" })
	switch {
	case diff && pidSet:
		return usageErr("--pid and --diff exclude each other: inspect a process, or compare two saved snapshots")
	case diff && len(pos) != 2:
		return usageErr("--diff takes two saved snapshots (A.json B.json), got %d", len(pos))
	case !diff && !pidSet:
		return usageErr("give --pid PID (or --diff A.json B.json)")
	case !diff && len(pos) > 0:
		return usageErr("unexpected arguments: %s", strings.Join(pos, " "))
	case top < 0:
		return usageErr("--top %d: must be 0 (all) or more", top)
	case !diff && cycles != 0:
		return usageErr("--cycles goes with --diff")
	case diff && (len(dirs) > 0 || len(peers) > 0):
		return usageErr("--base-dir and --peer go with --pid: a saved snapshot keeps its own")
	}

	if diff {
		a, err := loadSnap(pos[0])
		if err != nil {
			return fail("%v", err)
		}
		b, err := loadSnap(pos[1])
		if err != nil {
			return fail("%v", err)
		}
		d := forensics.Compare(a, b, cycles, ids...)
		if asJSON {
			return writeJSON(stdout, stderr, d)
		}
		fmt.Fprintf(stdout, "gitchaos inspect --diff: pid %d at %s -> pid %d at %s (%s later", a.Root, a.Taken.Format("15:04:05"), b.Root, b.Taken.Format("15:04:05"), b.Taken.Sub(a.Taken).Round(1e6))
		if cycles > 0 {
			fmt.Fprintf(stdout, ", %d cycles", cycles)
		}
		fmt.Fprintln(stdout, ")")
		fmt.Fprint(stdout, d.Text(top))
		return exitOK
	}

	o := forensics.Options{Dirs: dirs, IDs: ids}
	for _, p := range peers {
		addr, role, ok := strings.Cut(p, "=")
		if !ok || addr == "" || role == "" {
			return usageErr("--peer %q: want ADDR=ROLE, e.g. 127.0.0.1:9000=\"git host h1\"", p)
		}
		if o.Peers == nil {
			o.Peers = map[string]string{}
		}
		o.Peers[addr] = role
	}
	s, err := forensics.Snapshot(ctx, pid, o)
	if err != nil {
		return fail("%v", err)
	}
	if asJSON {
		return writeJSON(stdout, stderr, s)
	}
	writeSnapText(stdout, s, top)
	return exitOK
}

func writeJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(stderr, "gitchaos inspect: write JSON: %v\n", err)
		return exitUsage
	}
	return exitOK
}

// loadSnap reads a snapshot saved with --json.
func loadSnap(path string) (*forensics.Snap, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read snapshot: %w", err)
	}
	var s forensics.Snap
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: not a snapshot saved by 'gitchaos inspect --json': %w", path, err)
	}
	switch {
	case s.Schema == 0 || len(s.Procs) == 0:
		return nil, fmt.Errorf("%s: not a snapshot saved by 'gitchaos inspect --json' (no schema or no processes)", path)
	case s.Schema > forensics.SchemaVersion:
		return nil, fmt.Errorf("%s: snapshot schema %d is newer than this gitchaos reads (%d)", path, s.Schema, forensics.SchemaVersion)
	}
	return &s, nil
}

// writeSnapText prints a snapshot for a person: one row per process with
// its counts, the threads that block on something, debris, then the
// groups by signature, largest first.
func writeSnapText(w io.Writer, s *forensics.Snap, top int) {
	root := s.Procs[0]
	fmt.Fprintf(w, "gitchaos inspect: pid %d (%s), %d processes, snapshot took %s\n\n", root.PID, root.Comm, len(s.Procs), s.Took.Round(10e3))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PID\tPPID\tSTATE\tAGE\tFDS\tMAPS\tTHREADS\tRSS / ANON / FILE\tCOMMAND")
	for _, p := range s.Procs {
		kinds := map[string]int{}
		for _, f := range p.FDs {
			k := f.Kind
			if f.Deleted {
				k += " deleted"
			}
			kinds[k]++
		}
		classes := map[string]int{}
		for _, t := range p.Threads {
			classes[t.Class]++
		}
		mem := "-"
		if p.Memory != nil {
			mem = fmt.Sprintf("%s / %s / %s", mib(p.Memory.Rss), mib(p.Memory.Anon), mib(p.Memory.File))
		}
		cmd := strings.Join(p.Cmdline, " ")
		if cmd == "" {
			cmd = "[" + p.Comm + "]"
		}
		cmd = forensics.Shorten(cmd, 80)
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", p.PID, p.PPID, p.State, age(p.AgeSeconds),
			counts(len(p.FDs), kinds), len(p.Maps), counts(len(p.Threads), classes), mem, cmd)
	}
	tw.Flush()

	var blocked []string
	for _, p := range s.Procs {
		for _, t := range p.Threads {
			if t.Class == forensics.ClassBlocked {
				blocked = append(blocked, fmt.Sprintf("  pid %d tid %d %s: %s", p.PID, t.TID, t.Name, t.Waits))
			}
		}
	}
	if len(blocked) > 0 {
		fmt.Fprintf(w, "\nblocked threads (%d):\n%s\n", len(blocked), strings.Join(blocked, "\n"))
	}
	var debris []string
	for _, f := range s.Files {
		if f.Debris != "" {
			debris = append(debris, fmt.Sprintf("  %s (%s, %d bytes)", f.Path, f.Debris, f.Size))
		}
	}
	if len(s.Dirs) > 0 {
		fmt.Fprintf(w, "\nunder %s: %d files and dirs, %d debris\n", strings.Join(s.Dirs, ", "), len(s.Files), len(debris))
		if len(debris) > 0 {
			fmt.Fprintln(w, strings.Join(debris, "\n"))
		}
	}

	d := forensics.Compare(nil, s, 0)
	n := len(d.Groups)
	if top > 0 && n > top {
		n = top
	}
	fmt.Fprintf(w, "\ngroups by signature (%d of %d, largest first):\n", n, len(d.Groups))
	for _, g := range d.Groups[:n] {
		fmt.Fprintf(w, "%5d %s %s   e.g. %s\n", g.After, g.Kind, g.Signature, forensics.Shorten(g.Example, 100))
	}
	if len(s.Vanished) > 0 {
		fmt.Fprintf(w, "\nvanished during the snapshot: %v\n", s.Vanished)
	}
	for _, u := range s.Unreadable {
		fmt.Fprintf(w, "unreadable: %s\n", u)
	}
}

// counts renders a total and its split: "12 (file 8, socket 4)".
func counts(total int, by map[string]int) string {
	if total == 0 {
		return "0"
	}
	keys := make([]string, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return by[keys[i]] > by[keys[j]] || by[keys[i]] == by[keys[j]] && keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + strconv.Itoa(by[k])
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
}

func mib(b uint64) string { return fmt.Sprintf("%.1fM", float64(b)/(1<<20)) }

func age(s float64) string {
	switch {
	case s < 120:
		return fmt.Sprintf("%.0fs", s)
	case s < 7200:
		return fmt.Sprintf("%.0fm", s/60)
	}
	return fmt.Sprintf("%.1fh", s/3600)
}
