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
//   - a random temp suffix (6 or more letters and digits mixed, after a
//     '.', '-' or '_', or after "tmp" as in Python's tempfile) becomes "<tmp>";
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

// object is one object of a snapshot: its kind, signature and a concrete
// description.
type object struct {
	kind, sig, example string
}

// objects lists every object of a snapshot with its signature.
func (g *signer) objects(s *Snap) []object {
	var out []object
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
			out = append(out, object{"proc", sig, fmt.Sprintf("pid %d ppid %d %s %q cwd %s, age %.0f s", p.PID, p.PPID, p.State, cmd, p.Cwd, p.AgeSeconds)})
		}
		for j := range p.FDs {
			f := &p.FDs[j]
			out = append(out, object{"fd", g.fd(f) + in, fmt.Sprintf("fd %d %s", f.FD, f.Describe()) + inEx})
		}
		for _, m := range p.Maps {
			sig := g.text(m.Path)
			ex := m.Path
			if m.Deleted {
				sig += " (deleted)"
				ex += " (deleted)"
			}
			out = append(out, object{"map", sig + in, fmt.Sprintf("%s, %d bytes", ex, m.Size) + inEx})
		}
		for _, t := range p.Threads {
			sig := g.text(t.Name) + " " + t.Class
			if t.SyscallName != "" {
				sig += " " + t.SyscallName
			}
			if t.FD >= 0 {
				what := "closed fd"
				for j := range p.FDs {
					if p.FDs[j].FD == t.FD {
						what = g.fd(&p.FDs[j])
						break
					}
				}
				sig += " on " + what
			}
			ex := fmt.Sprintf("tid %d %q %s %s", t.TID, t.Name, t.State, t.Class)
			if t.Waits != "" {
				ex += ": " + t.Waits
			}
			out = append(out, object{"thread", sig + in, ex + inEx})
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
		out = append(out, object{kind, sig, ex})
	}
	return out
}
