package forensics

import (
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// tcpStates are the kernel's TCP states by their number in /proc/net/tcp.
var tcpStates = [...]string{
	1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
	6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING",
}

// unixStates are the socket states of /proc/net/unix's St column.
var unixStates = [...]string{0: "FREE", 1: "UNCONNECTED", 2: "CONNECTING", 3: "CONNECTED", 4: "DISCONNECTING"}

// netTables are the socket tables of a network namespace, in the order
// they are read.
var netTables = []string{ProtoTCP, ProtoUnix, ProtoTCP6, ProtoUDP, ProtoUDP6}

// nsTables is what was read of one network namespace's tables.
type nsTables struct {
	read    int // netTables[:read] are in socks
	sockets map[uint64]Socket
}

// sockets returns the sockets of pid's network namespace by inode, with
// at least the given inodes when they are in a table. Each table of a
// namespace is read at most once per snapshot, and only while inodes are
// still missing.
func (t *taker) sockets(pid int, inodes []uint64) map[uint64]Socket {
	ns, err := os.Readlink(procPath(pid, "ns", "net"))
	if err != nil {
		ns = "pid:" + strconv.Itoa(pid) // unknown namespace: this process's own view
	}
	n := t.net[ns]
	if n == nil {
		n = &nsTables{sockets: map[uint64]Socket{}}
		t.net[ns] = n
	}
	missing := func() bool {
		for _, ino := range inodes {
			if _, ok := n.sockets[ino]; !ok {
				return true
			}
		}
		return false
	}
	for n.read < len(netTables) && missing() {
		p := netTables[n.read]
		n.read++
		b, err := os.ReadFile(procPath(pid, "net", p))
		if err != nil {
			t.unreadable(pid, "net/"+p, err)
			continue
		}
		if p == ProtoUnix {
			parseUnixTable(b, n.sockets)
		} else {
			parseInetTable(b, p, n.sockets)
		}
	}
	return n.sockets
}

// parseInetTable adds the sockets of a /proc/net/{tcp,tcp6,udp,udp6} table:
// "sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...".
func parseInetTable(b []byte, proto string, m map[uint64]Socket) {
	first := true
	for l := range strings.Lines(string(b)) {
		if first { // header
			first = false
			continue
		}
		f := strings.Fields(l)
		if len(f) < 10 {
			continue
		}
		ino, err := strconv.ParseUint(f[9], 10, 64)
		if err != nil || ino == 0 {
			continue // TIME_WAIT and the like: no owner
		}
		s := Socket{Inode: ino, Proto: proto, Local: parseAddr(f[1]), Remote: parseAddr(f[2])}
		if st, err := strconv.ParseUint(f[3], 16, 8); err == nil {
			if strings.HasPrefix(proto, "tcp") && int(st) < len(tcpStates) {
				s.State = tcpStates[st]
			}
		}
		if s.Remote != "" && strings.HasSuffix(s.Remote, ":0") && (s.State == "LISTEN" || proto == ProtoUDP || proto == ProtoUDP6) {
			s.Remote = "" // no peer
		}
		m[ino] = s
	}
}

// parseAddr decodes "0100007F:1F90" (IPv4) or 32 hex digits and a port
// (IPv6): each 32-bit word in host (little-endian) byte order.
func parseAddr(s string) string {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return ""
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return ""
	}
	raw, err := hex.DecodeString(h)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return ""
	}
	var ip [16]byte
	for i := 0; i < len(raw); i += 4 {
		binary.BigEndian.PutUint32(ip[i:], binary.LittleEndian.Uint32(raw[i:]))
	}
	var a netip.Addr
	if len(raw) == 4 {
		a = netip.AddrFrom4([4]byte(ip[:4]))
	} else {
		a = netip.AddrFrom16(ip).Unmap()
	}
	return netip.AddrPortFrom(a, uint16(port)).String()
}

// parseUnixTable adds the sockets of /proc/net/unix:
// "Num RefCount Protocol Flags Type St Inode [Path]".
func parseUnixTable(b []byte, m map[uint64]Socket) {
	first := true
	for l := range strings.Lines(string(b)) {
		if first {
			first = false
			continue
		}
		f := strings.Fields(l)
		if len(f) < 7 {
			continue
		}
		ino, err := strconv.ParseUint(f[6], 10, 64)
		if err != nil {
			continue
		}
		s := Socket{Inode: ino, Proto: ProtoUnix}
		if len(f) > 7 {
			s.Local = f[7]
		}
		flags, _ := strconv.ParseUint(f[3], 16, 32)
		st, _ := strconv.ParseUint(f[5], 16, 8)
		switch {
		case flags&0x10000 != 0: // __SO_ACCEPTCON
			s.State = "LISTEN"
		case int(st) < len(unixStates):
			s.State = unixStates[st]
		}
		m[ino] = s
	}
}
