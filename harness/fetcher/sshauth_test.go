package fetcher

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/gitchaos/gitchaos/harness/scopeapi"
)

func newKey(t *testing.T) (ssh.Signer, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	return s, string(pem.EncodeToMemory(b))
}

// TestSSHAuthValidation: auth_type ssh needs an ssh:// URL, a user name
// and a private key that parses; each error names the field.
func TestSSHAuthValidation(t *testing.T) {
	_, pemKey := newKey(t)
	ok := scopeapi.Auth{AuthType: "ssh", Username: "git", PrivateKey: pemKey}
	if err := validateSSHAuth(ok, "ssh://git@127.0.0.1:2222/r000.git"); err != nil {
		t.Fatalf("valid ssh auth: %v", err)
	}
	for _, tc := range []struct {
		auth scopeapi.Auth
		url  string
		want string
	}{
		{ok, "http://127.0.0.1/r000.git", "is not an ssh:// URL"},
		{scopeapi.Auth{AuthType: "ssh", PrivateKey: pemKey}, "ssh://h/r.git", "policy.auth.username: required"},
		{scopeapi.Auth{AuthType: "ssh", Username: "git"}, "ssh://h/r.git", "policy.auth.private_key: required"},
		{scopeapi.Auth{AuthType: "ssh", Username: "git", PrivateKey: "not a key"}, "ssh://h/r.git", "policy.auth.private_key: ssh: no key found"},
	} {
		err := validateSSHAuth(tc.auth, tc.url)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("validateSSHAuth(%+v, %q) = %v, want an error containing %q", tc.auth.Username, tc.url, err, tc.want)
		}
	}
}

// TestKnownHostsCallback: a key listed for "*" or for the host is
// accepted, any other key refused.
func TestKnownHostsCallback(t *testing.T) {
	host, _ := newKey(t)
	other, _ := newKey(t)
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(host.PublicKey())))
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2222}
	for _, kh := range []string{"* " + line, "[127.0.0.1]:2222 " + line, "# comment\n127.0.0.1 " + line} {
		cb := knownHostsCallback(kh)
		if err := cb("127.0.0.1:2222", addr, host.PublicKey()); err != nil {
			t.Errorf("known hosts %q: host key refused: %v", kh, err)
		}
		if err := cb("127.0.0.1:2222", addr, other.PublicKey()); err == nil {
			t.Errorf("known hosts %q: another key accepted", kh)
		}
	}
	if err := knownHostsCallback("[10.0.0.1]:22 "+line)("127.0.0.1:2222", addr, host.PublicKey()); err == nil {
		t.Error("a key listed for another host was accepted")
	}
}

// TestSSHCloneEndsAtDeadlineOnSilentHost: against a host that accepts the
// connection and never says a word (a blackhole), an ssh clone ends at
// its deadline: go-git's own dial and handshake ignore the context, the
// fetcher's dialer closes the connection when it ends.
func TestSSHCloneEndsAtDeadlineOnSilentHost(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(held)
				return
			}
			held <- c // never read, never answered
		}
	}()
	defer func() {
		ln.Close()
		for c := range held {
			c.Close()
		}
	}()
	_, pemKey := newKey(t)
	hostKey, _ := newKey(t)
	f := &Fetcher{cfg: Config{SSHKnownHosts: "* " + string(ssh.MarshalAuthorizedKey(hostKey.PublicKey()))}}
	auth, err := f.sourceAuth(scopeapi.Policy{URL: "ssh://git@" + ln.Addr().String() + "/r.git",
		Auth: scopeapi.Auth{AuthType: "ssh", Username: "git", PrivateKey: pemKey}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(withAuth(context.Background(), auth), 300*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	_, err = cloneInto(ctx, t.TempDir(), "ssh://git@"+ln.Addr().String()+"/r.git", 1<<20)
	if took := time.Since(t0); err == nil || took > 2*time.Second {
		t.Fatalf("clone from a silent ssh host: took %v, err %v; want a failure at the 300ms deadline", took, err)
	}
}
