// Package stalltoxic is a custom toxiproxy toxic, "stall": it forwards the
// first Bytes bytes of each connection's stream, then stops forwarding and
// stops reading, so the peer sees a transfer that started and then froze
// while the connection stays open. Nothing is dropped: when the toxic is
// removed, the bytes it held are delivered and the stream flows on intact.
//
// toxiproxy has no such toxic built in, so every toxiproxy server that must
// understand the "stall" type has to call Register before it serves: the
// local testbed does it in-process, and the docker testbed builds a server
// binary that imports this package.
package stalltoxic

import (
	"sync"
	"time"

	"github.com/Shopify/toxiproxy/v2/stream"
	"github.com/Shopify/toxiproxy/v2/toxics"
)

// TypeName is the toxic type to pass to toxiproxy's API.
const TypeName = "stall"

// flushTimeout bounds how long removing the toxic waits to hand the held
// bytes on when nobody reads them any more (the connection is gone).
const flushTimeout = 2 * time.Second

var registerOnce sync.Once

// Register adds the "stall" toxic type to toxiproxy's registry. It is safe
// to call any number of times, from any goroutine.
func Register() {
	registerOnce.Do(func() { toxics.Register(TypeName, new(Toxic)) })
}

// Toxic passes Bytes bytes per connection and direction, then stalls until
// it is removed. While stalled it holds its goroutine: always remove the
// toxic (or the whole proxy's toxics) to release it.
type Toxic struct {
	Bytes int64 `json:"bytes"` // bytes forwarded before the stall (0: stall at once)
}

// state is kept per connection and survives interrupts (toxiproxy interrupts
// a toxic to update it or to append another toxic after it).
type state struct {
	passed int64               // bytes forwarded so far
	held   *stream.StreamChunk // the part of a chunk beyond the stall point
}

// NewState implements toxics.StatefulToxic.
func (t *Toxic) NewState() interface{} { return new(state) }

// Pipe implements toxics.Toxic.
func (t *Toxic) Pipe(stub *toxics.ToxicStub) {
	st, ok := stub.State.(*state)
	if !ok { // toxiproxy always sets State for a StatefulToxic; be defensive
		st = new(state)
		stub.State = st
	}
	for {
		if st.held != nil || st.passed >= t.Bytes {
			// Stalled: forward nothing and read nothing until interrupted
			// (for an update, an appended toxic, or removal).
			<-stub.Interrupt
			return
		}
		select {
		case <-stub.Interrupt:
			return
		case c := <-stub.Input:
			if c == nil {
				stub.Close()
				return
			}
			remaining := t.Bytes - st.passed
			if int64(len(c.Data)) <= remaining {
				stub.Output <- c
				st.passed += int64(len(c.Data))
				continue
			}
			stub.Output <- &stream.StreamChunk{Data: c.Data[:remaining], Timestamp: c.Timestamp}
			st.passed += remaining
			st.held = &stream.StreamChunk{Data: c.Data[remaining:], Timestamp: c.Timestamp}
		}
	}
}

// Cleanup implements toxics.CleanupToxic: on removal, deliver the held bytes
// so the stream continues intact behind the stall point.
func (t *Toxic) Cleanup(stub *toxics.ToxicStub) {
	st, ok := stub.State.(*state)
	if !ok || st.held == nil {
		return
	}
	held := st.held
	st.held = nil
	// An error means nobody reads the link any more (the connection closed);
	// the held bytes have nowhere to go then.
	_ = stub.WriteOutput(held, flushTimeout)
}
