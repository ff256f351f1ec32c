package forensics

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// signer turns objects into signatures: their description with every id
// replaced by a placeholder, so that the same kind of object of another
// scope, source, process or cycle has the same signature.
type signer struct {
	dirs    []string // watched dirs, longest first
	dirName map[string]string
	ids     []string // known ids, longest first
	peers   map[string]string
	listen  map[string]bool // addresses the tree listens on ("127.0.0.1:80"; ":80" for any address)
}

func newSigner(s *Snap, ids []string) *signer {
	g := &signer{dirName: map[string]string{}, peers: s.Peers, listen: map[string]bool{}}
	for i, d := range s.Dirs {
		d = filepath.Clean(d)
		name := "<base>"
		if i > 0 {
			name = "<dir" + strconv.Itoa(i+1) + ">"
		}
		if _, ok := g.dirName[d]; !ok {
			g.dirName[d] = name
			g.dirs = append(g.dirs, d)
		}
	}
	sort.Slice(g.dirs, func(i, j int) bool { return len(g.dirs[i]) > len(g.dirs[j]) })
	for _, id := range append(append([]string(nil), s.IDs...), ids...) {
		if len(id) >= 3 {
			g.ids = append(g.ids, id)
		}
	}
	sort.Slice(g.ids, func(i, j int) bool { return len(g.ids[i]) > len(g.ids[j]) })
	for _, p := range s.Procs {
		for _, f := range p.FDs {
			if f.Socket != nil && f.Socket.State == "LISTEN" && f.Socket.Proto != ProtoUnix {
				g.listen[f.Socket.Local] = true
				if h, port := hostPort(f.Socket.Local); h == "0.0.0.0" || h == "[::]" {
					g.listen[":"+port] = true // any address
				}
			}
		}
	}
	return g
}

// Signature returns the signature of a text (a path, a command line, a
// thread name) under the generic rules, with ids the known ids:
//
//   - a known id (Options.IDs) becomes "<id>";
//   - a path component that is a whole hex id of 8 or more digits (a
//     sha1/sha256, optionally with a "-N" shard suffix) or a UUID becomes
//     "<id>"; the word after "scope-" too;
//   - inside a word, a hex run of 8 or more digits becomes "<hex>";
//   - a random temp suffix becomes "<tmp>": the rest of a name after a
//     debris prefix (tmp_pack_*), a Python tempfile name or suffix ("tmp"
//     and 8 of [a-z0-9_]; "name-" and 8 of them), a word of 6 or more
//     letters and digits (two of each) after a '.', '-' or '_';
//   - a number standing alone (pids in /proc paths, counters in names)
//     becomes "<n>".
//
// Watched dirs are replaced as well when the signer knows them (in Diff:
// the first is "<base>", the others "<dir2>", "<dir3>", ...).
func Signature(text string, ids ...string) string {
	return newSigner(&Snap{}, ids).text(text)
}

// text signs a path or any text made of path-like words.
func (g *signer) text(s string) string {
	for _, d := range g.dirs {
		if s == d || strings.HasPrefix(s, d+"/") {
			s = g.dirName[d] + s[len(d):]
			break
		}
	}
	for _, id := range g.ids {
		s = strings.ReplaceAll(s, id, "<id>")
	}
	var b strings.Builder
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '/' || s[i] == ' ' || s[i] == '=' || s[i] == ':' {
			b.WriteString(component(s[start:i]))
			if i < len(s) {
				b.WriteByte(s[i])
			}
			start = i + 1
		}
	}
	return b.String()
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isHex(s string) (hex, digit bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digit = true
		case c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		default:
			return false, digit
		}
	}
	return true, digit
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// isUUID reports whether s is 8-4-4-4-12 hex digits.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, n := range []int{8, 4, 4, 4, 12} {
		if i > 0 {
			if s[0] != '-' {
				return false
			}
			s = s[1:]
		}
		if h, _ := isHex(s[:n]); !h {
			return false
		}
		s = s[n:]
	}
	return true
}

// archWords are words that look like ids or numbers but name an
// architecture; they are kept.
var archWords = []string{"x86_64", "aarch64", "amd64", "arm64", "i686"}

// component signs one path component (or one word).
func component(c string) string {
	if isUUID(c) {
		return "<id>"
	}
	if w, shard, ok := strings.Cut(c, "-"); len(w) >= 8 && (!ok || allDigits(shard)) {
		if h, d := isHex(w); h && d {
			return "<id>"
		}
	}
	if strings.HasSuffix(c, ".so") || strings.Contains(c, ".so.") {
		return c // a shared library: versions, not ids
	}
	for _, p := range debrisPatterns {
		if p.prefix != "" && strings.HasPrefix(c, p.prefix) && len(c) > len(p.prefix) {
			return p.prefix + "<tmp>"
		}
	}
	if tempName(c) {
		return "tmp<tmp>"
	}
	if n := len(c) - 8; n >= 2 && strings.ContainsRune("-._", rune(c[n-1])) && pyTempSuffix(c[n:]) {
		return component(c[:n]) + "<tmp>" // tempfile.mkdtemp(prefix="name-")
	}
	var b strings.Builder
	prev := "" // the previous word
next:
	for i := 0; i < len(c); {
		for _, a := range archWords {
			if strings.HasPrefix(c[i:], a) && (i+len(a) == len(c) || !isAlnum(c[i+len(a)])) {
				b.WriteString(a)
				i += len(a)
				continue next
			}
		}
		if !isAlnum(c[i]) {
			b.WriteByte(c[i])
			i++
			continue
		}
		j := i
		for j < len(c) && isAlnum(c[j]) {
			j++
		}
		w := c[i:j]
		afterSep := i > 0 && (c[i-1] == '.' || c[i-1] == '-' || c[i-1] == '_')
		h, d := isHex(w)
		switch {
		case prev == "scope" && i > 0 && c[i-1] == '-':
			b.WriteString("<id>")
		case h && d && len(w) >= 8:
			b.WriteString("<hex>")
		case allDigits(w):
			b.WriteString("<n>")
		case afterSep && len(w) >= 6 && randomSuffix(w):
			b.WriteString("<tmp>")
		default:
			b.WriteString(w)
		}
		prev = w
		i = j
	}
	return b.String()
}

// randomSuffix reports whether a word looks like a random temp suffix:
// letters and digits, at least two of each.
func randomSuffix(w string) bool {
	var digits, letters int
	for i := 0; i < len(w); i++ {
		switch c := w[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			letters++
		default:
			return false
		}
	}
	return digits >= 2 && letters >= 2
}

// pyTempSuffix reports whether s looks like the 8 random characters
// Python's tempfile appends to a prefix: [a-z0-9_], at least two letters
// and two digits or '_'.
func pyTempSuffix(s string) bool {
	var letters, others int
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c == '_':
			others++
		case c >= 'a' && c <= 'z':
			letters++
		default:
			return false
		}
	}
	return letters >= 2 && others >= 2
}

// tempName reports whether name is a Python tempfile name: "tmp" and 8
// characters of [a-z0-9_] with at least one digit or '_'.
func tempName(name string) bool {
	r, ok := strings.CutPrefix(name, "tmp")
	if !ok || len(r) != 8 {
		return false
	}
	other := false
	for i := 0; i < len(r); i++ {
		switch c := r[i]; {
		case c >= '0' && c <= '9', c == '_':
			other = true
		case c >= 'a' && c <= 'z':
		default:
			return false
		}
	}
	return other
}

// hostPort splits "IP:PORT" / "[IPv6]:PORT".
func hostPort(a string) (host, port string) {
	i := strings.LastIndexByte(a, ':')
	if i < 0 {
		return a, ""
	}
	return a[:i], a[i+1:]
}

// socket signs a socket: a client's ephemeral local port becomes
// "<port>"; on a connection accepted on a port the tree listens on, the
// remote (client) port does.
func (g *signer) socket(s *Socket) string {
	if s.Proto == "" {
		return "socket"
	}
	var b strings.Builder
	b.WriteString("socket " + s.Proto)
	if s.Proto == ProtoUnix {
		if s.Local != "" {
			b.WriteString(" " + g.text(s.Local))
		}
	} else {
		local, remote := s.Local, s.Remote
		if remote != "" {
			_, known := g.peers[remote]
			_, port := hostPort(local)
			if (g.listen[local] || g.listen[":"+port]) && !known {
				h, _ := hostPort(remote)
				remote = h + ":<port>"
			} else {
				h, _ := hostPort(local)
				local = h + ":<port>"
			}
		}
		if local != "" {
			b.WriteString(" " + local)
		}
		if remote != "" {
			b.WriteString(" -> " + remote)
		}
	}
	if s.State != "" {
		b.WriteString(" " + s.State)
	}
	if s.Role != "" && s.Role != "other" {
		b.WriteString(" (" + s.Role + ")")
	}
	return b.String()
}

// fd signs an fd (without the leading "fd ").
func (g *signer) fd(f *FD) string {
	switch f.Kind {
	case KindSocket:
		if f.Socket != nil {
			return g.socket(f.Socket)
		}
		return "socket"
	case KindPipe:
		if strings.HasPrefix(f.Path, "pipe:") {
			return "pipe"
		}
	case KindAnon:
		return f.Path
	}
	s := f.Kind + " " + g.text(f.Path)
	if f.Deleted {
		s += " (deleted)"
	}
	return s
}

// Object is one object of a snapshot, with its signature: what Compare
// counts, and what attribution to scopes works on.
type Object struct {
	// Kind is "fd", "map" (a mapped file), "thread", "proc" (a descendant
	// process), "file" or "dir" (under a watched dir).
	Kind string `json:"kind"`
	// Signature is the object's description with ids as placeholders.
	Signature string `json:"signature"`
	// Example is the concrete object in words.
	Example string `json:"example"`
	// PID is the process holding it (0 for files under watched dirs).
	PID int `json:"pid,omitempty"`
	// Path is the path of a file fd, a mapping or a file; a process's cwd.
	Path string `json:"path,omitempty"`
	// Remote is the peer address of a socket fd, or of the socket a thread
	// waits on.
	Remote string `json:"remote,omitempty"`
}

// Objects lists every object of s with its signature; ids are known ids
// on top of s.IDs (see Compare).
func Objects(s *Snap, ids ...string) []Object {
	return newSigner(s, ids).objects(s)
}

// objects lists every object of a snapshot with its signature.
func (g *signer) objects(s *Snap) []Object {
	var out []Object
	for i := range s.Procs {
		p := &s.Procs[i]
		in, inEx := "", ""
		if p.PID != s.Root {
			in = " in " + g.text(p.Comm)
			inEx = fmt.Sprintf(" in pid %d (%s)", p.PID, p.Comm)
			cmd := strings.Join(p.Cmdline, " ")
			if cmd == "" {
				cmd = "[" + p.Comm + "]"
			}
			sig := g.text(cmd)
			if p.Zombie() {
				sig += " (zombie)"
			}
			if p.Cwd != "" {
				sig += "  cwd " + g.text(p.Cwd)
			}
			out = append(out, Object{Kind: "proc", Signature: sig, PID: p.PID, Path: p.Cwd,
				Example: fmt.Sprintf("pid %d ppid %d %s %q cwd %s, age %.0f s", p.PID, p.PPID, p.State, cmd, p.Cwd, p.AgeSeconds)})
		}
		for j := range p.FDs {
			f := &p.FDs[j]
			o := Object{Kind: "fd", Signature: g.fd(f) + in, Example: fmt.Sprintf("fd %d %s", f.FD, f.Describe()) + inEx, PID: p.PID}
			if f.Socket != nil {
				o.Remote = f.Socket.Remote
			} else if strings.HasPrefix(f.Path, "/") {
				o.Path = f.Path
			}
			out = append(out, o)
		}
		for _, m := range p.Maps {
			sig := g.text(m.Path)
			ex := m.Path
			if m.Deleted {
				sig += " (deleted)"
				ex += " (deleted)"
			}
			out = append(out, Object{Kind: "map", Signature: sig + in, Example: fmt.Sprintf("%s, %d bytes", ex, m.Size) + inEx, PID: p.PID, Path: m.Path})
		}
		for _, t := range p.Threads {
			sig := g.text(t.Name) + " " + t.Class
			if t.SyscallName != "" {
				sig += " " + t.SyscallName
			}
			remote := ""
			if t.FD >= 0 {
				what := "closed fd"
				for j := range p.FDs {
					if f := &p.FDs[j]; f.FD == t.FD {
						what = g.fd(f)
						if f.Socket != nil {
							remote = f.Socket.Remote
						}
						break
					}
				}
				sig += " on " + what
			}
			ex := fmt.Sprintf("tid %d %q %s %s", t.TID, t.Name, t.State, t.Class)
			if t.Waits != "" {
				ex += ": " + t.Waits
			}
			out = append(out, Object{Kind: "thread", Signature: sig + in, Example: ex + inEx, PID: p.PID, Remote: remote})
		}
	}
	for _, f := range s.Files {
		kind, sig := "file", g.text(f.Path)
		if f.Dir {
			kind = "dir"
		}
		ex := fmt.Sprintf("%s, %d bytes", f.Path, f.Size)
		if f.Debris != "" {
			sig += "  [" + f.Debris + "]"
		}
		out = append(out, Object{Kind: kind, Signature: sig, Example: ex, Path: f.Path})
	}
	return out
}
