package gates

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gitchaos/gitchaos/harness/eventually"
	"github.com/gitchaos/gitchaos/harness/forensics"
	"github.com/gitchaos/gitchaos/harness/result"
)

// The timeout gate's checks on objects with an identity: they replace
// the count-based "threads back to baseline", which could not tell an
// idle pool thread (a lazily grown ThreadPoolExecutor, a thread per
// keep-alive connection) from one stuck in recv on a dead git host.
var (
	timeoutNoBlocked = declare("timeout", "no-thread-on-git", "no thread blocked on a git connection after timeout + grace", unitCount,
		"no thread of the target's tree (its git children and helpers too) still waits on a socket to a git host once the operations timed out; idle threads (futex, condition, epoll) never count")
	timeoutNoGitConn = declare("timeout", "no-git-connection", "no connection to a git host left open after timeout + grace", unitCount,
		"every connection to a git host is closed once the operations timed out: none half-closed (CLOSE_WAIT), none carrying a request the git server still serves, none waited on; an idle pooled keep-alive never counts")
)

// gitLinger judges the timeout gate's objects after timeout + grace,
// polled for grace: threads blocked on a socket to a git host, and
// connections to git hosts left open. base is the tree before the hangs
// (nil when it could not be taken): a failing check names what grew.
func (s *S) gitLinger(ctx context.Context, base *forensics.Snap, grace time.Duration) {
	var snap *forensics.Snap
	var why string
	var blocked, conns []gitObject
	eventually.Poll(ctx, grace, 50*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		if snap, why = s.snapshot(ctx); snap == nil {
			return true, why, nil
		}
		blocked, conns = gitObjects(snap, s.gitHosts(), s.busyHosts(ctx))
		return len(blocked)+len(conns) == 0, fmt.Sprintf("%d blocked, %d open", len(blocked), len(conns)), nil
	})
	if snap == nil {
		s.rec.Skip(timeoutNoBlocked, "the target's process tree cannot be inspected: "+why)
		s.rec.Skip(timeoutNoGitConn, "the target's process tree cannot be inspected: "+why)
		return
	}
	where := fmt.Sprintf("polled for %v after timeout + grace; %s", grace, snapWhat(snap))
	idle, other := threadClasses(snap)
	s.rec.EQ(timeoutNoBlocked, float64(len(blocked)), 0,
		fmt.Sprintf("%d threads blocked on a socket to a git host (%d idle threads not counted, %d blocked on something else); %s", len(blocked), idle, other, where))
	s.rec.withObjects(timeoutNoBlocked, gitGroups(blocked), topObjects)
	s.rec.EQ(timeoutNoGitConn, float64(len(conns)), 0,
		fmt.Sprintf("%d connections to git hosts left open; %s", len(conns), where))
	s.rec.withObjects(timeoutNoGitConn, gitGroups(conns), topObjects)
	if base != nil && s.rec.failed(timeoutNoBlocked) {
		d := forensics.Compare(base, snap, 0, s.scopes.ids()...)
		s.Logf("timeout: the target's tree after timeout + grace against before the hangs:\n%s", d.Text(10))
	}
}

// gitObject is a thread or connection of the tree on a git host.
type gitObject struct {
	kind, sig, example string
}

// gitObjects lists the threads of snap blocked on a socket to one of the
// git host addresses hosts, and the sockets to them that count as left
// open (heldSocket: not ESTABLISHED, a thread blocked on it, or the host
// busy with a request).
func gitObjects(snap *forensics.Snap, hosts map[string]string, busy map[string]bool) (blocked, conns []gitObject) {
	ids := snap.IDs
	for _, p := range snap.Procs {
		who := fmt.Sprintf("pid %d (%s)", p.PID, p.Comm)
		if p.PID != snap.Root {
			who = fmt.Sprintf("pid %d (%s, parent %d)", p.PID, p.Comm, p.PPID)
		}
		cmd := "   [" + forensics.Shorten(strings.Join(p.Cmdline, " "), 80) + "]"
		onFD := map[int]bool{}
		for _, t := range p.Threads {
			if t.Class != forensics.ClassBlocked || t.FD < 0 {
				continue
			}
			for i := range p.FDs {
				f := &p.FDs[i]
				if f.FD != t.FD || f.Socket == nil {
					continue
				}
				if h, ok := hosts[f.Socket.Remote]; ok {
					onFD[f.FD] = true
					blocked = append(blocked, gitObject{kind: "thread",
						sig:     forensics.Signature(fmt.Sprintf("%s %s on socket to %s", p.Comm, t.SyscallName, h), ids...),
						example: fmt.Sprintf("%s tid %d %q: %s", who, t.TID, t.Name, t.Waits) + cmd})
				}
			}
		}
		for i := range p.FDs {
			f := &p.FDs[i]
			if f.Socket == nil {
				continue
			}
			h, ok := hosts[f.Socket.Remote]
			if !ok || !heldSocket(f.Socket.State, busy[f.Socket.Remote], onFD[f.FD]) {
				continue
			}
			conns = append(conns, gitObject{kind: "fd",
				sig:     forensics.Signature(fmt.Sprintf("%s socket %s to %s", p.Comm, f.Socket.State, h), ids...),
				example: fmt.Sprintf("%s fd %d %s", who, f.FD, f.Describe()) + cmd})
		}
	}
	return blocked, conns
}

// gitGroups groups git objects by signature, largest first.
func gitGroups(objs []gitObject) []result.Object {
	idx := map[string]int{}
	var out []result.Object
	for _, o := range objs {
		if i, ok := idx[o.kind+o.sig]; ok {
			out[i].Count++
			out[i].Growth++
			continue
		}
		idx[o.kind+o.sig] = len(out)
		out = append(out, result.Object{Kind: o.kind, Signature: o.sig, Count: 1, Growth: 1, Example: o.example})
	}
	sortObjects(out)
	return out
}

// threadClasses counts the idle threads of snap and those blocked on
// something other than a git host.
func threadClasses(snap *forensics.Snap) (idle, blockedElse int) {
	for _, p := range snap.Procs {
		for _, t := range p.Threads {
			switch {
			case t.Class == forensics.ClassIdle:
				idle++
			case t.Class == forensics.ClassBlocked && !strings.Contains(t.Waits, "(git host "):
				blockedElse++
			}
		}
	}
	return idle, blockedElse
}

// gitHosts maps each git host's address as the target sees it (its
// proxy) to its name.
func (s *S) gitHosts() map[string]string {
	out := map[string]string{}
	for _, h := range s.Testbed.Hosts() {
		if a := hostAddr(h.URL); a != "" {
			out[a] = "git host " + h.Name
		}
	}
	return out
}

// treeDiffObjects are the groups of kinds that grew from base to now (nil
// when either is missing).
func treeDiffObjects(base, now *forensics.Snap, ids []string, kinds ...string) []result.Object {
	if base == nil || now == nil {
		return nil
	}
	want := map[string]bool{}
	for _, k := range kinds {
		want[k] = true
	}
	d := forensics.Compare(base, now, 0, ids...)
	var out []result.Object
	for _, o := range diffObjects(d, len(d.Groups)) {
		if want[o.Kind] {
			out = append(out, o)
		}
	}
	return out
}
