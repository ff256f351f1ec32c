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

// flushTimeout bounds how long removing the toxic waits to hand a held
// chunk on. The reader behind the toxic is a goroutine copying into the
// client's socket, which the stall has left empty: a live connection takes
// a chunk at once, so a wait this long means the connection is gone.
const flushTimeout = 250 * time.Millisecond

// discardTimeout bounds how long removal on a dead connection drains the
// data still arriving from the upstream before it closes the link.
const discardTimeout = 2 * time.Second

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

// Removal timings (see Cleanup).
const (
	// quietWindow is how long removal waits for more data behind the held
	// chunk before it calls the connection live and idle.
	quietWindow = 100 * time.Millisecond
	// pumpLimit bounds how long removal forwards data itself before it
	// leaves a live, streaming connection to toxiproxy.
	pumpLimit = time.Second
)

// Cleanup implements toxics.CleanupToxic. It delivers the held bytes and
// whatever arrives behind them until the input has been quiet for
// quietWindow (or pumpLimit passed): on a live connection the stream thus
// continues intact behind the stall point, and toxiproxy splices the toxic
// out. A write to a dead connection only fails on the write after the one
// that hit the closed socket, which is why Cleanup keeps forwarding for a
// moment instead of handing over at once: when nobody takes a chunk within
// flushTimeout, the connection is gone, and Cleanup drains what the
// upstream still sends until its end (or discardTimeout) and closes the
// link. Left to toxiproxy, that case waits 5 s per queued chunk and leaves
// the goroutines in front of the toxic blocked.
func (t *Toxic) Cleanup(stub *toxics.ToxicStub) {
	st, ok := stub.State.(*state)
	if ok && st.held != nil {
		held := st.held
		st.held = nil
		if err := stub.WriteOutput(held, flushTimeout); err != nil {
			discard(stub)
			return
		}
	}
	quiet := time.NewTimer(quietWindow)
	defer quiet.Stop()
	limit := time.NewTimer(pumpLimit)
	defer limit.Stop()
	for {
		select {
		case c := <-stub.Input:
			if c == nil { // the upstream ended: pass the end on, as Pipe does
				stub.Close()
				return
			}
			if err := stub.WriteOutput(c, flushTimeout); err != nil {
				discard(stub)
				return
			}
			quiet.Reset(quietWindow)
		case <-quiet.C:
			return // live and idle: toxiproxy splices the toxic out
		case <-limit.C:
			return // live and streaming: toxiproxy splices it out on the fly
		}
	}
}

// discard drops the input until it ends (or discardTimeout) and closes the
// stub, which closes the client side of the link.
func discard(stub *toxics.ToxicStub) {
	defer stub.Close()
	deadline := time.NewTimer(discardTimeout)
	defer deadline.Stop()
	for {
		select {
		case c := <-stub.Input:
			if c == nil {
				return
			}
		case <-deadline.C:
			return
		}
	}
}
