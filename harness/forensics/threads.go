package forensics

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
)

// What a syscall says of the thread in it.
const (
	scIdle    = iota + 1 // waits for work
	scFD                 // waits on the fd of its first argument
	scPoll               // poll/ppoll: waits on the fds of a pollfd array
	scSelect             // select/pselect6: waits on the fds of fd_sets
	scBlocked            // waits on something else (a child, a lock)
)

type sysc struct {
	name string
	kind int
}

// syscalls are the syscalls the snapshot classifies, by number, for the
// architectures it decodes (others: every thread in a syscall is "other").
var syscalls = map[string]map[int]sysc{
	"amd64": {
		0: {"read", scFD}, 1: {"write", scFD}, 7: {"poll", scPoll}, 17: {"pread64", scFD}, 18: {"pwrite64", scFD},
		19: {"readv", scFD}, 20: {"writev", scFD}, 23: {"select", scSelect}, 34: {"pause", scIdle},
		35: {"nanosleep", scIdle}, 40: {"sendfile", scFD}, 42: {"connect", scFD}, 43: {"accept", scFD},
		44: {"sendto", scFD}, 45: {"recvfrom", scFD}, 46: {"sendmsg", scFD}, 47: {"recvmsg", scFD},
		61: {"wait4", scBlocked}, 73: {"flock", scFD}, 74: {"fsync", scFD}, 128: {"rt_sigtimedwait", scIdle},
		130: {"rt_sigsuspend", scIdle}, 202: {"futex", scIdle}, 230: {"clock_nanosleep", scIdle},
		232: {"epoll_wait", scIdle}, 247: {"waitid", scBlocked}, 270: {"pselect6", scSelect},
		271: {"ppoll", scPoll}, 281: {"epoll_pwait", scIdle}, 288: {"accept4", scFD},
		299: {"recvmmsg", scFD}, 307: {"sendmmsg", scFD}, 441: {"epoll_pwait2", scIdle},
	},
	"arm64": {
		22: {"epoll_pwait", scIdle}, 32: {"flock", scFD}, 63: {"read", scFD}, 64: {"write", scFD},
		65: {"readv", scFD}, 66: {"writev", scFD}, 67: {"pread64", scFD}, 68: {"pwrite64", scFD},
		71: {"sendfile", scFD}, 72: {"pselect6", scSelect}, 73: {"ppoll", scPoll}, 82: {"fsync", scFD},
		95: {"waitid", scBlocked}, 98: {"futex", scIdle}, 101: {"nanosleep", scIdle},
		115: {"clock_nanosleep", scIdle}, 133: {"rt_sigsuspend", scIdle}, 137: {"rt_sigtimedwait", scIdle},
		202: {"accept", scFD}, 203: {"connect", scFD}, 206: {"sendto", scFD}, 207: {"recvfrom", scFD},
		211: {"sendmsg", scFD}, 212: {"recvmsg", scFD}, 242: {"accept4", scFD}, 243: {"recvmmsg", scFD},
		260: {"wait4", scBlocked}, 269: {"sendmmsg", scFD}, 441: {"epoll_pwait2", scIdle},
	},
}[runtime.GOARCH]

// threads reads the threads of pid; fds is its fd table, to join the fd a
// thread waits on.
func (t *taker) threads(pid int, fds []FD) ([]Thread, error) {
	dir := procPath(pid, "task")
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("open task dir: %w", err)
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	tids := make([]int, 0, len(names))
	for _, n := range names {
		if i, err := strconv.Atoi(n); err == nil {
			tids = append(tids, i)
		}
	}
	sort.Ints(tids)
	byFD := make(map[int]*FD, len(fds))
	for i := range fds {
		byFD[fds[i].FD] = &fds[i]
	}
	var mem *os.File // /proc/PID/mem, opened for the first poll on one fd
	defer func() {
		if mem != nil {
			mem.Close()
		}
	}()
	out := make([]Thread, 0, len(tids))
	for _, tid := range tids {
		base := dir + "/" + strconv.Itoa(tid) + "/"
		b, err := t.read(base + "stat")
		if err != nil {
			continue // exited since the listing
		}
		st, err := parseStat(b)
		if err != nil {
			t.unreadable(pid, "thread "+strconv.Itoa(tid)+" stat", err)
			continue
		}
		th := Thread{TID: tid, Name: st.comm, State: st.state, Syscall: -1, FD: -1, Class: ClassUnknown}
		if w, err := t.read(base + "wchan"); err == nil && string(w) != "0" {
			th.Wchan = string(w)
		}
		b, err = t.read(base + "syscall")
		if err != nil {
			t.unreadable(pid, "thread "+strconv.Itoa(tid)+" syscall", err)
			out = append(out, th)
			continue
		}
		nr, args, ok := parseSyscall(string(b))
		switch {
		case !ok && strings.HasPrefix(string(b), "running"):
			th.Class = ClassRunning
		case !ok:
		case nr < 0:
			th.Class = ClassOther // in the kernel, not in a syscall
		default:
			th.Syscall, th.Arg0, th.Class = nr, args[0], ClassOther
			sc, known := syscalls[nr]
			if !known {
				break
			}
			th.SyscallName = sc.name
			more := 0 // other fds a poll or select waits on
			switch sc.kind {
			case scIdle:
				th.Class = ClassIdle
			case scBlocked:
				th.Class, th.Waits = ClassBlocked, sc.name
			case scFD:
				th.Class, th.FD = ClassBlocked, int(int32(args[0]))
			case scPoll, scSelect:
				if mem == nil {
					mem, _ = os.Open(procPath(pid, "mem"))
				}
				watched, ok := watchedFDs(mem, sc.kind, args)
				if !ok {
					th.Class, th.Waits = ClassOther, sc.name+" (its fds unreadable)"
					break
				}
				th.Class, th.FD = waitClass(watched, byFD)
				more = len(watched) - 1
			}
			if th.FD >= 0 {
				what := "closed fd"
				if f, ok := byFD[th.FD]; ok {
					what = f.Describe()
				}
				th.Waits = fmt.Sprintf("%s on fd %d: %s", sc.name, th.FD, what)
				if more > 0 {
					th.Waits += fmt.Sprintf(" (and %d more fds)", more)
				}
			}
		}
		out = append(out, th)
	}
	return out, nil
}

// watchedFDs reads the fds a poll (an array of struct pollfd {int fd;
// short events, revents}) or a select (fd_set bitmaps of reads and
// writes) waits on, from the process's memory.
func watchedFDs(mem *os.File, kind int, args [6]uint64) ([]int, bool) {
	if mem == nil {
		return nil, false
	}
	var fds []int
	if kind == scPoll {
		n := args[1]
		if n > 64 {
			return nil, false // an event loop over many fds: not one wait
		}
		b := make([]byte, 8*n)
		if _, err := mem.ReadAt(b, int64(args[0])); err != nil && n > 0 {
			return nil, false
		}
		for i := range n {
			if fd := int(int32(binary.NativeEndian.Uint32(b[8*i:]))); fd >= 0 {
				fds = append(fds, fd)
			}
		}
		return fds, true
	}
	n := args[0]
	if n > 1024 {
		return nil, false
	}
	seen := map[int]bool{}
	for _, addr := range []uint64{args[1], args[2]} { // reads, writes
		if addr == 0 {
			continue
		}
		b := make([]byte, (n+63)/64*8)
		if _, err := mem.ReadAt(b, int64(addr)); err != nil {
			return nil, false
		}
		for fd := range int(n) {
			if b[fd/8]&(1<<(fd%8)) != 0 && !seen[fd] {
				seen[fd] = true
				fds = append(fds, fd)
			}
		}
	}
	sort.Ints(fds)
	return fds, true
}

// waitClass classifies a thread waiting on several fds: blocked on the
// first connected network socket among them (a client waiting for a
// peer), else on a single fd that is not a listener; idle otherwise (an
// accept loop, an event loop).
func waitClass(fds []int, byFD map[int]*FD) (class string, fd int) {
	for _, n := range fds {
		if f, ok := byFD[n]; ok && f.Socket != nil && f.Socket.Proto != ProtoUnix && f.Socket.Proto != "" &&
			f.Socket.Remote != "" && f.Socket.State != "LISTEN" {
			return ClassBlocked, n
		}
	}
	if len(fds) == 1 {
		if f, ok := byFD[fds[0]]; !ok || f.Socket == nil || f.Socket.State != "LISTEN" {
			return ClassBlocked, fds[0]
		}
	}
	return ClassIdle, -1
}

// parseSyscall parses /proc/PID/task/TID/syscall: "nr arg0..arg5 sp pc"
// (hex args), "-1 sp pc" outside a syscall, or "running".
func parseSyscall(s string) (nr int, args [6]uint64, ok bool) {
	f := strings.Fields(s)
	if len(f) < 1 {
		return 0, args, false
	}
	nr, err := strconv.Atoi(f[0])
	if err != nil {
		return 0, args, false
	}
	if nr < 0 {
		return nr, args, true
	}
	if len(f) < 7 {
		return 0, args, false
	}
	for i := range args {
		v, err := strconv.ParseUint(strings.TrimPrefix(f[i+1], "0x"), 16, 64)
		if err != nil {
			return 0, args, false
		}
		args[i] = v
	}
	return nr, args, true
}

// Describe says what an fd is, in words: the path of a file ("(deleted)"
// appended), or a socket's protocol, addresses, state and peer role, e.g.
// "tcp 127.0.0.1:40112 -> 127.0.0.1:9000 ESTABLISHED (git host h1)".
func (f *FD) Describe() string {
	switch {
	case f.Socket != nil && f.Socket.Proto != "":
		s := f.Socket
		var b strings.Builder
		b.WriteString(s.Proto)
		if s.Local != "" {
			b.WriteString(" " + s.Local)
		}
		if s.Remote != "" {
			b.WriteString(" -> " + s.Remote)
		}
		if s.State != "" {
			b.WriteString(" " + s.State)
		}
		if s.Role != "" && s.Role != "other" {
			b.WriteString(" (" + s.Role + ")")
		}
		return b.String()
	case f.Deleted:
		return f.Kind + " " + f.Path + " (deleted)"
	default:
		return f.Kind + " " + f.Path
	}
}
