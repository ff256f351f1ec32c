package forensics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gitchaos/gitchaos/harness/proctree"
)

// Options configure Snapshot.
type Options struct {
	// Dirs are watched dirs (the target's base dir first): every file and
	// dir under them is listed, debris classified.
	Dirs []string
	// Peers maps a socket address "IP:PORT" to the role of whoever listens
	// there, e.g. "127.0.0.1:9000" -> "git host h1", or the target's own
	// API address -> "harness client" (a socket whose local address is in
	// the table, like a connection the target accepted there, gets that
	// role too). Sockets matching no entry get the role "other".
	Peers map[string]string
	// IDs are known ids (scope ids, source ids) that signatures replace by
	// "<id>", on top of the generic rules (see Signature).
	IDs []string
	// Marker is a proctree marker entry ("GITCHAOS_TARGET_ID=..."): processes
	// carrying it count as descendants even when re-parented away.
	Marker string
	// MaxFiles bounds the files listed under Dirs (default 100000); past it
	// the listing is cut and the cut recorded as unreadable.
	MaxFiles int
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's start time: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// ErrNoProcess is returned (wrapped) by Snapshot when the root process
// does not exist.
var ErrNoProcess = errors.New("no such process")

// Snapshot takes a forensic snapshot of process pid and all its
// descendants. It fails only when pid itself cannot be found or ctx ends;
// everything else that cannot be read is recorded in Snap.Unreadable.
func Snapshot(ctx context.Context, pid int, o Options) (*Snap, error) {
	start := time.Now()
	if _, err := os.Stat(procPath(pid)); err != nil || pid <= 0 {
		return nil, fmt.Errorf("forensics: pid %d: %w", pid, ErrNoProcess)
	}
	o.Peers = normalPeers(o.Peers)
	t := &taker{
		s: &Snap{
			Schema: SchemaVersion, Taken: start, Root: pid,
			Dirs: slices.Clone(o.Dirs), IDs: slices.Clone(o.IDs), Peers: o.Peers,
		},
		o:   o,
		now: start,
		net: map[string]*nsTables{},
	}
	tree, err := proctree.Tree(pid, o.Marker)
	if err != nil {
		// The full list failed: fall back to the root alone.
		t.unreadable(0, "process list", err)
		tree = []proctree.Proc{{PID: pid}}
	}
	pids := make([]int, 0, len(tree))
	for _, p := range tree {
		if p.PID != pid {
			pids = append(pids, p.PID)
		}
	}
	sort.Ints(pids)
	pids = append([]int{pid}, pids...)
	for _, p := range pids {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("forensics: snapshot of pid %d: %w", pid, err)
		}
		t.proc(p)
	}
	if len(t.s.Procs) == 0 || t.s.Procs[0].PID != pid {
		return nil, fmt.Errorf("forensics: pid %d exited during the snapshot: %w", pid, ErrNoProcess)
	}
	if err := t.files(ctx); err != nil {
		return nil, err
	}
	t.s.Took = time.Since(start)
	return t.s, nil
}

// taker holds one snapshot being taken.
type taker struct {
	buf []byte // for read
	s   *Snap
	o   Options
	now time.Time
	// net caches the socket tables read so far, per network namespace.
	net map[string]*nsTables
}

func procPath(pid int, parts ...string) string {
	return filepath.Join(append([]string{"/proc", strconv.Itoa(pid)}, parts...)...)
}

func (t *taker) unreadable(pid int, part string, err error) {
	reason := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		reason = pe.Err.Error()
	}
	t.s.Unreadable = append(t.s.Unreadable, Unreadable{PID: pid, Part: part, Reason: reason})
}

// read reads a small /proc file into t.buf (valid until the next read):
// open, read, close, without os.ReadFile's stat and allocation.
func (t *taker) read(path string) ([]byte, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	if t.buf == nil {
		t.buf = make([]byte, 0, 4096)
	}
	b := t.buf[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := syscall.Read(fd, b[len(b):cap(b)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			break
		}
		b = b[:len(b)+n]
	}
	t.buf = b[:0]
	return b, nil
}

// gone reports whether process pid no longer exists.
func gone(pid int) bool {
	_, err := os.Stat(procPath(pid))
	return err != nil
}

// proc reads one process into the snapshot; a process that is gone is
// noted in Vanished instead.
func (t *taker) proc(pid int) {
	b, err := t.read(procPath(pid, "stat"))
	if err != nil {
		if gone(pid) {
			t.s.Vanished = append(t.s.Vanished, pid)
		} else {
			t.unreadable(pid, "stat", err)
		}
		return
	}
	st, err := parseStat(b)
	if err != nil {
		t.unreadable(pid, "stat", err)
		return
	}
	p := Proc{PID: pid, PPID: st.ppid, Comm: st.comm, State: st.state}
	if bt := bootTime(); !bt.IsZero() {
		p.Start = bt.Add(time.Duration(st.startTicks) * time.Second / clockTicks)
		p.AgeSeconds = t.now.Sub(p.Start).Seconds()
	}
	// Each part: an error of a process that exited meanwhile ends the
	// reading (noted as vanished); any other error is unreadable.
	vanished := false
	fail := func(part string, err error) bool {
		if err == nil {
			return false
		}
		if gone(pid) {
			if !vanished {
				t.s.Vanished = append(t.s.Vanished, pid)
			}
			vanished = true
			return true
		}
		t.unreadable(pid, part, err)
		return false
	}
	if cl, err := os.ReadFile(procPath(pid, "cmdline")); !fail("cmdline", err) {
		p.Cmdline = splitCmdline(cl)
	}
	if !vanished && !p.Zombie() { // a zombie has no cwd left
		if cwd, err := os.Readlink(procPath(pid, "cwd")); !fail("cwd", err) {
			p.Cwd = strings.TrimSuffix(cwd, " (deleted)")
		}
	}
	if !vanished && !p.Zombie() {
		var fdErr, mapErr, memErr, thrErr error
		p.FDs, fdErr = t.fds(pid)
		if !fail("fds", fdErr) {
			p.Maps, mapErr = readMaps(pid)
		}
		if !vanished && !fail("maps", mapErr) {
			p.Memory, memErr = readMemory(pid)
		}
		if !vanished && !fail("smaps_rollup", memErr) {
			p.Threads, thrErr = t.threads(pid, p.FDs)
			fail("threads", thrErr)
		}
	}
	t.s.Procs = append(t.s.Procs, p)
}

func splitCmdline(b []byte) []string {
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil
	}
	return strings.Split(string(b), "\x00")
}

// stat is what the snapshot uses of /proc/PID/stat.
type stat struct {
	comm, state string
	ppid        int
	startTicks  uint64
}

// parseStat parses /proc/PID/stat (or a task's): "pid (comm) S ppid ...";
// comm may hold spaces and parentheses, so it runs to the last ')'.
func parseStat(b []byte) (stat, error) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open || end+2 >= len(b) {
		return stat{}, fmt.Errorf("malformed stat %q", b)
	}
	f := strings.Fields(string(b[end+2:]))
	// f[0] is field 3 (state), f[1] field 4 (ppid), f[19] field 22 (starttime).
	if len(f) < 20 {
		return stat{}, fmt.Errorf("malformed stat %q", b)
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return stat{}, fmt.Errorf("stat ppid: %w", err)
	}
	ticks, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return stat{}, fmt.Errorf("stat starttime: %w", err)
	}
	return stat{comm: string(b[open+1 : end]), state: f[0], ppid: ppid, startTicks: ticks}, nil
}

var bootTime = sync.OnceValue(func() time.Time {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}
	}
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, "btime "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err == nil {
				return time.Unix(n, 0)
			}
		}
	}
	return time.Time{}
})

// fds reads the fd table of pid, sockets joined to the network tables.
func (t *taker) fds(pid int) ([]FD, error) {
	dir := procPath(pid, "fd")
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("open fd dir: %w", err)
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("list fds: %w", err)
	}
	nums := make([]int, 0, len(names))
	for _, n := range names {
		if i, err := strconv.Atoi(n); err == nil {
			nums = append(nums, i)
		}
	}
	sort.Ints(nums)
	out := make([]FD, 0, len(nums))
	var socks []int // indexes of out
	for _, n := range nums {
		p := dir + "/" + strconv.Itoa(n)
		link, err := os.Readlink(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // closed since the listing
			}
			t.unreadable(pid, "fd "+strconv.Itoa(n), err)
			continue
		}
		fd := FD{FD: n, Path: link}
		switch {
		case strings.HasPrefix(link, "socket:["):
			fd.Kind = KindSocket
			ino, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]"), 10, 64)
			fd.Socket = &Socket{Inode: ino}
			socks = append(socks, len(out))
		case strings.HasPrefix(link, "pipe:["):
			fd.Kind = KindPipe
		case strings.HasPrefix(link, "anon_inode:"):
			fd.Kind = KindAnon
		case strings.HasPrefix(link, "/"):
			if path, ok := strings.CutSuffix(link, " (deleted)"); ok {
				fd.Path, fd.Deleted = path, true
			}
			fd.Kind = KindOther
			var st syscall.Stat_t
			if err := syscall.Stat(p, &st); err == nil {
				switch st.Mode & syscall.S_IFMT {
				case syscall.S_IFREG:
					fd.Kind = KindFile
				case syscall.S_IFDIR:
					fd.Kind = KindDir
				case syscall.S_IFCHR, syscall.S_IFBLK:
					fd.Kind = KindDevice
				case syscall.S_IFIFO:
					fd.Kind = KindPipe
				}
			}
		default:
			fd.Kind = KindOther
		}
		out = append(out, fd)
	}
	if len(socks) > 0 {
		inodes := make([]uint64, len(socks))
		for i, j := range socks {
			inodes[i] = out[j].Socket.Inode
		}
		table := t.sockets(pid, inodes)
		for _, j := range socks {
			s := out[j].Socket
			if found, ok := table[s.Inode]; ok {
				*s = found
			}
			s.Role = t.role(*s)
		}
	}
	return out, nil
}

// normalPeers writes the addresses of a peer table as the snapshot writes
// socket addresses (IPv4-mapped IPv6 as IPv4, IPv6 bracketed and
// compressed); addresses that do not parse are kept as given.
func normalPeers(p map[string]string) map[string]string {
	if p == nil {
		return nil
	}
	out := make(map[string]string, len(p))
	for a, role := range p {
		if ap, err := netip.ParseAddrPort(a); err == nil {
			a = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
		}
		out[a] = role
	}
	return out
}

// role is the peer role of a socket from Options.Peers.
func (t *taker) role(s Socket) string {
	if s.Remote != "" {
		if r, ok := t.o.Peers[s.Remote]; ok {
			return r
		}
	}
	if s.Local != "" && s.Proto != ProtoUnix && s.State != "LISTEN" {
		if r, ok := t.o.Peers[s.Local]; ok {
			return r
		}
	}
	return "other"
}

// readMaps reads the files mapped by pid, one entry per path.
func readMaps(pid int) ([]Mapping, error) {
	b, err := os.ReadFile(procPath(pid, "maps"))
	if err != nil {
		return nil, fmt.Errorf("read maps: %w", err)
	}
	idx := map[string]int{}
	var out []Mapping
	for l := range strings.Lines(string(b)) {
		l = strings.TrimRight(l, "\n")
		// "start-end perms offset dev inode   path"
		rest := l
		for range 5 {
			_, r, ok := strings.Cut(strings.TrimLeft(rest, " "), " ")
			if !ok {
				rest = ""
				break
			}
			rest = r
		}
		path := strings.TrimLeft(rest, " ")
		if !strings.HasPrefix(path, "/") {
			continue
		}
		span, _, _ := strings.Cut(l, " ")
		a, z, _ := strings.Cut(span, "-")
		lo, err1 := strconv.ParseUint(a, 16, 64)
		hi, err2 := strconv.ParseUint(z, 16, 64)
		var size uint64
		if err1 == nil && err2 == nil && hi > lo {
			size = hi - lo
		}
		key := path
		p, deleted := strings.CutSuffix(path, " (deleted)")
		if i, ok := idx[key]; ok {
			out[i].Size += size
			out[i].Regions++
			continue
		}
		idx[key] = len(out)
		out = append(out, Mapping{Path: p, Deleted: deleted, Size: size, Regions: 1})
	}
	return out, nil
}

// readMemory reads the anon/file split of smaps_rollup.
func readMemory(pid int) (*Memory, error) {
	b, err := os.ReadFile(procPath(pid, "smaps_rollup"))
	if err != nil {
		return nil, fmt.Errorf("read smaps_rollup: %w", err)
	}
	m := &Memory{}
	for l := range strings.Lines(string(b)) {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			continue
		}
		v *= 1024 // kB
		switch f[0] {
		case "Rss:":
			m.Rss = v
		case "Pss:":
			m.Pss = v
		case "Anonymous:":
			m.Anon = v
		case "Swap:":
			m.Swap = v
		}
	}
	if m.Rss >= m.Anon {
		m.File = m.Rss - m.Anon
	}
	return m, nil
}

// files lists what is under the watched dirs.
func (t *taker) files(ctx context.Context) error {
	limit := t.o.MaxFiles
	if limit <= 0 {
		limit = 100000
	}
	errLimit := errors.New("limit")
	for _, d := range t.o.Dirs {
		root := filepath.Clean(d)
		err := filepath.WalkDir(root, func(path string, de fs.DirEntry, err error) error {
			if err != nil {
				if path == root || !errors.Is(err, fs.ErrNotExist) {
					t.unreadable(0, "dir "+path, err)
				}
				return nil
			}
			if path == root {
				return nil
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if len(t.s.Files) >= limit {
				t.unreadable(0, "dir "+root, fmt.Errorf("listing cut at %d files (Options.MaxFiles)", limit))
				return errLimit
			}
			f := File{Path: path, Dir: de.IsDir(), Debris: Debris(de.Name())}
			if !f.Dir {
				if info, err := de.Info(); err == nil {
					f.Size = info.Size()
				}
			}
			t.s.Files = append(t.s.Files, f)
			return nil
		})
		if errors.Is(err, errLimit) {
			break
		}
		if err != nil {
			return fmt.Errorf("forensics: list %s: %w", root, err)
		}
	}
	sort.Slice(t.s.Files, func(i, j int) bool { return t.s.Files[i].Path < t.s.Files[j].Path })
	return nil
}

// debrisPatterns name the debris a crashed or leaking git server leaves.
var debrisPatterns = []struct {
	prefix, suffix string
	what           string
}{
	{prefix: "tmp_pack_", what: "git temp pack"},
	{prefix: "tmp_idx_", what: "git temp index"},
	{prefix: "tmp_obj_", what: "git temp object"},
	{prefix: "incoming-", what: "git quarantine"},
	{suffix: ".lock", what: "lock file"},
	{suffix: ".partial", what: "partial download"},
	{suffix: ".part", what: "partial download"},
	{suffix: ".tmp", what: "temp file"},
	{suffix: ".temp", what: "temp file"},
	{suffix: "~", what: "temp file"},
}

// Debris classifies a file name by the debris patterns: "git temp pack"
// (tmp_pack_*), "git temp index" (tmp_idx_*), "git temp object"
// (tmp_obj_*), "git quarantine" (incoming-*), "lock file" (*.lock),
// "partial download" (*.partial, *.part), "temp file" (*.tmp, *.temp, *~,
// and Python tempfile names: "tmp" and 8 random [a-z0-9_]). "" when none.
func Debris(name string) string {
	for _, p := range debrisPatterns {
		if p.prefix != "" && strings.HasPrefix(name, p.prefix) && len(name) > len(p.prefix) {
			return p.what
		}
		if p.suffix != "" && strings.HasSuffix(name, p.suffix) && len(name) > len(p.suffix) {
			return p.what
		}
	}
	if tempName(name) {
		return "temp file"
	}
	return ""
}
