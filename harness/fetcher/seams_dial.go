package fetcher

import "context"

// sshDial is the seam of how an ssh clone or fetch dials: through the
// fetcher's dialer, whose connection its operation's deadline closes
// (sshauth.go), or through go-git's own, which dials and shakes hands
// with a background context (the ssh-dial-no-deadline mutant).
type sshDial interface {
	// on marks ctx, the context of one clone or fetch, with the dial to use.
	on(ctx context.Context) context.Context
}

// deadlineDial dials through the fetcher's dialer: the correct strategy.
type deadlineDial struct{}

func (deadlineDial) on(ctx context.Context) context.Context { return ctx }

// plainDial dials through go-git's own dialer: against a host that
// accepts and never answers, the ssh handshake never ends.
type plainDial struct{}

type plainDialKey struct{}

func (plainDial) on(ctx context.Context) context.Context {
	return context.WithValue(ctx, plainDialKey{}, true)
}

// plainDialOn reports whether ctx asks for go-git's own dialer.
func plainDialOn(ctx context.Context) bool {
	v, _ := ctx.Value(plainDialKey{}).(bool)
	return v
}
