package fetcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/go-git/go-git/v5/plumbing/transport"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
	"golang.org/x/net/proxy"

	"github.com/gitchaos/gitchaos/harness/scopeapi"
)

// OPAL's auth_type: ssh. A scope's policy source may carry
// {"auth_type": "ssh", "username", "private_key", "public_key"} (OPAL's
// SSHAuthData: the private key in PEM, no passphrase); its clones and
// fetches then go over go-git's ssh transport with that key, bounded by
// the same deadline as over HTTP. The server's host key is checked
// against Config.SSHKnownHosts (known_hosts lines; a "*" pattern trusts
// the key for any host and port), else go-git's default known_hosts files
// ($SSH_KNOWN_HOSTS, ~/.ssh/known_hosts).

// validateSSHAuth checks the ssh fields of a policy source's auth.
func validateSSHAuth(a scopeapi.Auth, rawURL string) error {
	var errs []error
	if u, err := url.Parse(rawURL); err == nil && u.Scheme != "ssh" {
		errs = append(errs, fmt.Errorf("policy.auth.auth_type \"ssh\": policy.url %q is not an ssh:// URL", rawURL))
	}
	if a.Username == "" {
		errs = append(errs, errors.New("policy.auth.username: required for auth_type \"ssh\""))
	}
	if a.PrivateKey == "" {
		errs = append(errs, errors.New("policy.auth.private_key: required for auth_type \"ssh\""))
	} else if _, err := ssh.ParsePrivateKey([]byte(a.PrivateKey)); err != nil {
		errs = append(errs, fmt.Errorf("policy.auth.private_key: %w", err))
	}
	return errors.Join(errs...)
}

// sourceAuth is the git auth of a validated scope's source (nil: none).
// The user name is the URL's when it has one (what OPAL's pygit2
// callback uses), else auth.username.
func (f *Fetcher) sourceAuth(p scopeapi.Policy) (transport.AuthMethod, error) {
	if p.Auth.AuthType != "ssh" {
		return nil, nil
	}
	user := p.Auth.Username
	if u, err := url.Parse(p.URL); err == nil && u.User != nil && u.User.Username() != "" {
		user = u.User.Username()
	}
	a, err := gitssh.NewPublicKeys(user, []byte(p.Auth.PrivateKey), "")
	if err != nil {
		return nil, fmt.Errorf("%w: policy.auth.private_key: %w", ErrBadInput, err)
	}
	if f.cfg.SSHKnownHosts != "" {
		a.HostKeyCallback = knownHostsCallback(f.cfg.SSHKnownHosts)
	}
	return a, nil
}

// knownHostsCallback accepts a host key listed in known_hosts text for
// the host (its name, or [name]:port) or for the pattern "*".
func knownHostsCallback(text string) ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		want := map[string]bool{"*": true, knownhosts.Normalize(hostname): true}
		if h, _, err := net.SplitHostPort(hostname); err == nil {
			want[h] = true
		}
		rest := []byte(text)
		for len(rest) > 0 {
			_, hosts, pub, _, next, err := ssh.ParseKnownHosts(rest)
			if err != nil {
				break
			}
			rest = next
			for _, h := range hosts {
				if want[h] && bytes.Equal(pub.Marshal(), key.Marshal()) {
					return nil
				}
			}
		}
		return fmt.Errorf("ssh: host key %s of %s is not in the fetcher's known hosts", ssh.FingerprintSHA256(key), hostname)
	}
}

// go-git's ssh transport dials and runs the SSH handshake with a
// background context (plumbing/transport/ssh: dial): against a host that
// accepts the connection and never answers (a blackhole), a clone hangs
// in the handshake past its deadline, forever. So an ssh clone or fetch
// dials through a proxy dialer of this package (a proxy URL naming the
// operation's context) whose connection is closed when that context ends:
// the handshake, and everything after it, ends at the deadline.

const ctxDialScheme = "gitchaos-ctxdial"

var (
	ctxDials   sync.Map // id -> context.Context of a running ssh operation
	ctxDialSeq atomic.Uint64
)

func init() {
	proxy.RegisterDialerType(ctxDialScheme, func(u *url.URL, _ proxy.Dialer) (proxy.Dialer, error) {
		v, ok := ctxDials.Load(u.Host)
		if !ok {
			return nil, fmt.Errorf("ssh dial: operation %s is over", u.Host)
		}
		return ctxDialer{ctx: v.(context.Context)}, nil
	})
}

// ctxDialer dials TCP and closes the connection when ctx ends.
type ctxDialer struct{ ctx context.Context }

func (d ctxDialer) Dial(network, addr string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, addr)
}

func (d ctxDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopDial := context.AfterFunc(d.ctx, cancel)
	defer stopDial()
	var nd net.Dialer
	c, err := nd.DialContext(dctx, network, addr)
	if err != nil {
		if cerr := d.ctx.Err(); cerr != nil {
			err = fmt.Errorf("%w (%w)", err, cerr)
		}
		return nil, err
	}
	stop := context.AfterFunc(d.ctx, func() { _ = c.Close() })
	return &ctxConn{Conn: c, stop: stop}, nil
}

// ctxConn is a connection closed when its operation's context ends.
type ctxConn struct {
	net.Conn
	stop func() bool
}

func (c *ctxConn) Close() error {
	c.stop()
	return c.Conn.Close()
}

// sshTransport is the auth and proxy options of one clone or fetch on ctx
// (zero for a source without ssh auth); done forgets the operation.
func sshTransport(ctx context.Context) (auth transport.AuthMethod, po transport.ProxyOptions, done func()) {
	auth = authFrom(ctx)
	if auth == nil || plainDialOn(ctx) {
		return auth, po, func() {}
	}
	id := strconv.FormatUint(ctxDialSeq.Add(1), 10)
	ctxDials.Store(id, ctx)
	return auth, transport.ProxyOptions{URL: ctxDialScheme + "://" + id}, func() { ctxDials.Delete(id) }
}

type authKey struct{}

// withAuth carries a source's git auth to its clone or fetch.
func withAuth(ctx context.Context, a transport.AuthMethod) context.Context {
	if a == nil {
		return ctx
	}
	return context.WithValue(ctx, authKey{}, a)
}

// authFrom is the git auth withAuth put on ctx (nil: none).
func authFrom(ctx context.Context) transport.AuthMethod {
	a, _ := ctx.Value(authKey{}).(transport.AuthMethod)
	return a
}
