package faults

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
)

// Flap takes the host offline and back on a schedule: down for Down, up for
// Up, again and again, Count times (0: until recovered). Inject starts the
// first down phase at once and a goroutine toggles the proxy from then on;
// Recover stops that goroutine, waits for it to exit and leaves the proxy
// enabled. After Count down phases the proxy stays up and the goroutine
// ends by itself. One Flap value may flap several proxies at the same time.
// Use it through a pointer (it holds the running schedules).
type Flap struct {
	Up    time.Duration // time up between outages (> 0)
	Down  time.Duration // length of each outage (> 0)
	Count int           // number of outages; 0 = until recovered

	mu   sync.Mutex
	runs map[string]*flapRun // by proxy
}

type flapRun struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	errs []error // toggles that failed
}

// parseFlap builds a Flap from its catalog row's keys.
func parseFlap(p *params) (Spec, error) {
	up, err := p.duration("up", 0)
	if err != nil {
		return nil, err
	}
	down, err := p.duration("down", 0)
	if err != nil {
		return nil, err
	}
	n, err := p.integer("count", 0)
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, p.errorf("count", "must be >= 0")
	}
	f := &Flap{Up: up, Down: down, Count: int(n)}
	return f, f.Validate()
}

// Validate reports what is wrong with the settings.
func (f *Flap) Validate() error {
	if f.Up <= 0 {
		return fmt.Errorf("faults: flap: up %v must be > 0", f.Up)
	}
	if f.Down <= 0 {
		return fmt.Errorf("faults: flap: down %v must be > 0", f.Down)
	}
	if f.Count < 0 {
		return fmt.Errorf("faults: flap: count %d must be >= 0", f.Count)
	}
	return nil
}

// Name implements Fault.
func (*Flap) Name() string { return "flap" }

// String is the fault's Parse form.
func (f *Flap) String() string {
	return fmt.Sprintf("flap:up=%v,down=%v,count=%d", f.Up, f.Down, f.Count)
}

func flapKey(p *toxiclient.Proxy) string { return p.Name + "|" + p.Listen }

// Inject implements Fault.
func (f *Flap) Inject(ctx context.Context, p *toxiclient.Proxy) error {
	if err := f.Validate(); err != nil {
		return err
	}
	if p == nil {
		return errors.New("faults: flap: nil proxy")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("faults: flap: inject on %s: %w", p.Name, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	key := flapKey(p)
	if _, running := f.runs[key]; running {
		return fmt.Errorf("faults: flap: already flapping proxy %s", p.Name)
	}
	if err := setEnabled(p, false); err != nil {
		return fmt.Errorf("faults: flap: disable proxy %s: %w", p.Name, err)
	}
	r := &flapRun{stop: make(chan struct{}), done: make(chan struct{})}
	if f.runs == nil {
		f.runs = map[string]*flapRun{}
	}
	f.runs[key] = r
	cp := *p // the goroutine never reads the caller's value
	cp.ActiveToxics = nil
	go r.loop(&cp, f.Up, f.Down, f.Count)
	return nil
}

// loop runs the schedule; the proxy is down when it starts.
func (r *flapRun) loop(p *toxiclient.Proxy, up, down time.Duration, count int) {
	defer close(r.done)
	for outage := 1; ; outage++ {
		if !r.wait(down) {
			return
		}
		r.toggle(p, true)
		if count > 0 && outage >= count {
			return
		}
		if !r.wait(up) {
			return
		}
		r.toggle(p, false)
	}
}

// wait returns false when stopped before d passed.
func (r *flapRun) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.stop:
		return false
	}
}

func (r *flapRun) toggle(p *toxiclient.Proxy, enabled bool) {
	if err := setEnabled(p, enabled); err != nil {
		r.mu.Lock()
		r.errs = append(r.errs, fmt.Errorf("faults: flap: set proxy %s enabled=%v: %w", p.Name, enabled, err))
		r.mu.Unlock()
	}
}

// Running reports whether the schedule on p is still toggling (false once
// Count outages are over, or after Recover).
func (f *Flap) Running(p *toxiclient.Proxy) bool {
	f.mu.Lock()
	r := f.runs[flapKey(p)]
	f.mu.Unlock()
	if r == nil {
		return false
	}
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

// Recover implements Fault: it stops the schedule, waits for its goroutine
// to exit and enables the proxy. Toggle errors seen during the run are
// reported here.
func (f *Flap) Recover(ctx context.Context, p *toxiclient.Proxy) error {
	if p == nil {
		return errors.New("faults: flap: nil proxy")
	}
	f.mu.Lock()
	key := flapKey(p)
	r := f.runs[key]
	delete(f.runs, key)
	f.mu.Unlock()
	if r == nil {
		return nil // not flapping this proxy: nothing to undo
	}
	close(r.stop)
	<-r.done // the loop never blocks for long: at most one API call
	r.mu.Lock()
	errs := r.errs
	r.mu.Unlock()
	if err := setEnabled(p, true); err != nil && !IsNotFound(err) {
		errs = append(errs, fmt.Errorf("faults: flap: enable proxy %s: %w", p.Name, err))
	}
	return errors.Join(errs...)
}
