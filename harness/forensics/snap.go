// Package forensics takes a forensic snapshot of a process tree from Linux
// /proc and diffs two snapshots by signature: which objects (fds, mapped
// files, threads, child processes, files under watched dirs) a process
// holds, and which kinds of them grew between a baseline and a later
// point, with one concrete example each.
//
// A snapshot works on any process of any language: it reads /proc
// directly, never attaches a debugger. A part that cannot be read (a
// process of another user under ptrace rules, a process that exited
// mid-snapshot, a missing dir) is recorded in Snap.Unreadable with the
// reason, never left empty. Snapshots are JSON-serialisable with stable
// field names and a schema version (SchemaVersion), so that two saved
// snapshots can be compared later (gitchaos inspect --diff).
//
// Linux only. Syscall numbers are decoded for amd64 and arm64.
package forensics

import (
	"time"
)

// SchemaVersion is the version of the JSON form of Snap. It changes when a
// field changes meaning or is removed; added fields keep it.
const SchemaVersion = 1

// Snap is one forensic snapshot of a process and all its descendants.
type Snap struct {
	// Schema is SchemaVersion at the time the snapshot was taken.
	Schema int `json:"schema"`
	// Taken is when the snapshot started; Took how long it took.
	Taken time.Time     `json:"taken"`
	Took  time.Duration `json:"took_ns"`
	// Root is the pid the snapshot was taken of.
	Root int `json:"root_pid"`
	// Procs holds the root first, then its descendants by pid.
	Procs []Proc `json:"procs"`
	// Dirs are the watched dirs (Options.Dirs) and Files what was under
	// them, sorted by path.
	Dirs  []string `json:"dirs,omitempty"`
	Files []File   `json:"files,omitempty"`
	// IDs are the known ids (Options.IDs) that signatures replace by a
	// placeholder; Peers the address-to-role table (Options.Peers).
	IDs   []string          `json:"ids,omitempty"`
	Peers map[string]string `json:"peers,omitempty"`
	// Unreadable lists every part that could not be read, with the reason.
	Unreadable []Unreadable `json:"unreadable,omitempty"`
	// Vanished lists descendants that exited while the snapshot was taken.
	Vanished []int `json:"vanished,omitempty"`
}

// Unreadable is one part of a snapshot that could not be read.
type Unreadable struct {
	// PID is the process the part belongs to (0 for a watched dir).
	PID int `json:"pid,omitempty"`
	// Part names what was not read: "fds", "fd 7", "maps", "smaps_rollup",
	// "threads", "thread 123 syscall", "cwd", "cmdline", "dir /x", ...
	Part string `json:"part"`
	// Reason is the error, e.g. "permission denied".
	Reason string `json:"reason"`
}

// Proc is one process of the tree.
type Proc struct {
	PID  int `json:"pid"`
	PPID int `json:"ppid"`
	// Comm is the executable name (at most 15 bytes), Cmdline the argv.
	Comm    string   `json:"comm"`
	Cmdline []string `json:"cmdline,omitempty"`
	// State is the one-letter state of /proc/PID/stat: R, S, D, Z (zombie), T, ...
	State string `json:"state"`
	// Cwd is the working directory ("" when unreadable, see Snap.Unreadable).
	Cwd string `json:"cwd,omitempty"`
	// Start is when the process started; AgeSeconds its age at the snapshot.
	Start      time.Time `json:"start"`
	AgeSeconds float64   `json:"age_s"`
	// FDs are the open file descriptors, by number.
	FDs []FD `json:"fds,omitempty"`
	// Maps are the files mapped into memory, one entry per path.
	Maps []Mapping `json:"maps,omitempty"`
	// Memory is the split of smaps_rollup (nil when unreadable or a zombie).
	Memory *Memory `json:"memory,omitempty"`
	// Threads are the process's threads, by tid.
	Threads []Thread `json:"threads,omitempty"`
}

// Zombie reports whether the process exited and was not reaped.
func (p *Proc) Zombie() bool { return p.State == "Z" }

// Fd kinds (FD.Kind).
const (
	KindFile   = "file"
	KindDir    = "dir"
	KindSocket = "socket"
	KindPipe   = "pipe"
	KindAnon   = "anon_inode"
	KindDevice = "device"
	KindOther  = "other"
)

// FD is one open file descriptor.
type FD struct {
	FD   int    `json:"fd"`
	Kind string `json:"kind"`
	// Path is the link target of /proc/PID/fd/N without " (deleted)":
	// a path for files, dirs and devices; "pipe:[ino]", "socket:[ino]",
	// "anon_inode:[eventpoll]" for the others.
	Path string `json:"path"`
	// Deleted is true for a file unlinked while still open.
	Deleted bool `json:"deleted,omitempty"`
	// Socket is set for sockets found in the process's network tables.
	Socket *Socket `json:"socket,omitempty"`
}

// Socket protocols (Socket.Proto).
const (
	ProtoTCP  = "tcp"
	ProtoTCP6 = "tcp6"
	ProtoUDP  = "udp"
	ProtoUDP6 = "udp6"
	ProtoUnix = "unix"
)

// Socket is what the network tables say of a socket fd.
type Socket struct {
	Inode uint64 `json:"inode"`
	// Proto is tcp, tcp6, udp, udp6, unix, or "" when the inode is in no
	// table read (netlink and other families).
	Proto string `json:"proto,omitempty"`
	// Local and Remote are "IP:PORT" ("[IPv6]:PORT"); IPv4-mapped IPv6
	// addresses are written as IPv4. For unix sockets Local is the bound
	// path, if any.
	Local  string `json:"local,omitempty"`
	Remote string `json:"remote,omitempty"`
	// State is the TCP state (ESTABLISHED, LISTEN, CLOSE_WAIT, ...); for
	// unix sockets CONNECTED, UNCONNECTED, LISTEN, ...
	State string `json:"state,omitempty"`
	// Role is the peer's role from Options.Peers (by remote address, else
	// by local address), or "other".
	Role string `json:"role,omitempty"`
}

// Mapping is one file mapped into a process, all its regions together.
type Mapping struct {
	Path    string `json:"path"`
	Deleted bool   `json:"deleted,omitempty"`
	// Size is the total size of its regions in bytes; Regions their number.
	Size    uint64 `json:"size"`
	Regions int    `json:"regions"`
}

// Memory is a process's memory split, from /proc/PID/smaps_rollup, in bytes.
type Memory struct {
	Rss  uint64 `json:"rss"`
	Pss  uint64 `json:"pss"`
	Anon uint64 `json:"anon"`
	// File is Rss - Anon: pages backed by files (and shared memory).
	File uint64 `json:"file"`
	Swap uint64 `json:"swap"`
}

// Thread classes (Thread.Class).
const (
	// ClassIdle: waiting for work (futex, epoll_wait, nanosleep, a signal):
	// a pool thread with nothing to do.
	ClassIdle = "idle"
	// ClassBlocked: in a syscall that waits on something specific: an fd
	// (Thread.FD says which), a child process, a lock.
	ClassBlocked = "blocked"
	// ClassRunning: on a CPU or runnable.
	ClassRunning = "running"
	// ClassOther: in the kernel outside a syscall, or in a syscall not
	// classified.
	ClassOther = "other"
	// ClassUnknown: the syscall could not be read.
	ClassUnknown = "unknown"
)

// Thread is one thread of a process.
type Thread struct {
	TID   int    `json:"tid"`
	Name  string `json:"name"`
	State string `json:"state"`
	Wchan string `json:"wchan,omitempty"`
	// Syscall is the syscall the thread is in (-1 when running or not in
	// one), SyscallName its name where known, Arg0 its first argument.
	Syscall     int    `json:"syscall"`
	SyscallName string `json:"syscall_name,omitempty"`
	Arg0        uint64 `json:"arg0,omitempty"`
	// FD is the fd the syscall waits on (for read, recv, poll on one fd,
	// connect, ...), -1 when none.
	FD    int    `json:"fd"`
	Class string `json:"class"`
	// Waits says in words what the thread waits on, e.g.
	// "recvfrom on fd 5: tcp 127.0.0.1:40112 -> 127.0.0.1:9000 ESTABLISHED (git host h1)".
	Waits string `json:"waits,omitempty"`
}

// File is one file or dir under a watched dir.
type File struct {
	Path string `json:"path"`
	Dir  bool   `json:"dir,omitempty"`
	Size int64  `json:"size"`
	// Debris names the debris pattern the name matches ("git temp pack",
	// "lock file", "partial download", "temp file"), "" for none.
	Debris string `json:"debris,omitempty"`
}
