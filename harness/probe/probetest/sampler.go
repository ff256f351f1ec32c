package probetest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gitchaos/gitchaos/harness/probe"
)

// Marker kinds.
const (
	KindCycle    = "cycle"     // starts a cycle (ends the previous one)
	KindEnd      = "end"       // ends the current cycle without starting one
	KindSettled  = "settled"   // inside a cycle: the target has settled
	KindFaultOn  = "fault-on"  // a fault was injected
	KindFaultOff = "fault-off" // a fault was recovered
	KindPhase    = "phase"     // any other phase change
)

// Marker labels a point in time of a sampled run.
type Marker struct {
	Time  time.Time `json:"time"`
	Label string    `json:"label"`
	Kind  string    `json:"kind"`
}

// SamplerOptions configure a Sampler. Zero values take the defaults.
type SamplerOptions struct {
	// Interval between samples: 0 means 100ms (10 Hz).
	Interval time.Duration
	// Capacity of the ring buffer in samples (the oldest are dropped):
	// 0 means 36000 (an hour at 10 Hz). Markers are kept up to the same number.
	Capacity int
	// Timeout of one sample: 0 means 2s.
	Timeout time.Duration
	// Logger for sample errors (debug level); nil means slog.Default().
	Logger *slog.Logger
}

// Validate reports a bad option.
func (o SamplerOptions) Validate() error {
	var errs []error
	if o.Interval < 0 {
		errs = append(errs, fmt.Errorf("interval %v: want > 0", o.Interval))
	}
	if o.Interval > 0 && o.Interval < time.Millisecond {
		errs = append(errs, fmt.Errorf("interval %v: want >= 1ms", o.Interval))
	}
	if o.Capacity < 0 {
		errs = append(errs, fmt.Errorf("capacity %d: want > 0", o.Capacity))
	}
	if o.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %v: want > 0", o.Timeout))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("probe: sampler options: %w", err)
	}
	return nil
}

// Sampler samples a probe.Source in the background into a bounded ring buffer.
type Sampler struct {
	src  probe.Source
	opts SamplerOptions

	srcMu sync.Mutex // serializes src.Sample

	mu      sync.Mutex
	start   time.Time
	buf     []probe.Sample
	head    int // index of the oldest sample
	n       int
	total   int
	dropped int
	errs    int
	lastErr string
	markers []Marker
	mDrop   int
	cancel  context.CancelFunc
	done    chan struct{}
}

// NewSampler makes a stopped sampler of src.
func NewSampler(src probe.Source, opts SamplerOptions) (*Sampler, error) {
	if src == nil {
		return nil, errors.New("probe: sampler: source is nil")
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Interval == 0 {
		opts.Interval = 100 * time.Millisecond
	}
	if opts.Capacity == 0 {
		opts.Capacity = 36000
	}
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Sampler{src: src, opts: opts, buf: make([]probe.Sample, opts.Capacity)}, nil
}

// Start takes a first sample now and then one per interval until Stop or
// ctx ends. Starting a running sampler is an error.
func (s *Sampler) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.done != nil {
		s.mu.Unlock()
		return errors.New("probe: sampler: already started")
	}
	ctx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	s.done = make(chan struct{})
	if s.start.IsZero() {
		s.start = time.Now()
	}
	done := s.done
	s.mu.Unlock()
	go s.loop(ctx, done)
	return nil
}

func (s *Sampler) loop(ctx context.Context, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	for {
		_, _ = s.SampleNow(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Stop ends sampling and waits for the sampling goroutine to return.
// Stopping a stopped sampler does nothing; it can be started again.
func (s *Sampler) Stop() {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.cancel, s.done = nil, nil
	s.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

// SampleNow takes one sample synchronously and records it (e.g. right
// after a cycle boundary). Errors are counted, not recorded as samples.
func (s *Sampler) SampleNow(ctx context.Context) (probe.Sample, error) {
	if err := ctx.Err(); err != nil {
		return probe.Sample{}, err
	}
	sctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	s.srcMu.Lock()
	smp, err := s.src.Sample(sctx)
	s.srcMu.Unlock()
	cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if ctx.Err() != nil {
			return probe.Sample{}, err // stopping: not a sampling failure
		}
		s.errs++
		s.lastErr = err.Error()
		s.opts.Logger.Debug("probe: sample failed", "source", s.src.Name(), "err", err)
		return probe.Sample{}, err
	}
	if s.start.IsZero() {
		s.start = smp.Time
	}
	if s.n == len(s.buf) {
		s.buf[s.head] = smp
		s.head = (s.head + 1) % len(s.buf)
		s.dropped++
	} else {
		s.buf[(s.head+s.n)%len(s.buf)] = smp
		s.n++
	}
	s.total++
	return smp, nil
}

// Mark records a marker now. kind is KindCycle, KindEnd, KindSettled,
// KindFaultOn, KindFaultOff or KindPhase; omitted, it is KindCycle, so
// Mark("cycle 3") starts a cycle. Only the first kind given is used.
func (s *Sampler) Mark(label string, kind ...string) {
	k := KindCycle
	if len(kind) > 0 && kind[0] != "" {
		k = kind[0]
	}
	m := Marker{Time: time.Now(), Label: label, Kind: k}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.markers) >= s.opts.Capacity {
		s.markers = s.markers[1:]
		s.mDrop++
	}
	s.markers = append(s.markers, m)
}

// Count is the number of samples taken so far (including dropped ones).
func (s *Sampler) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// WaitSamples blocks until n more samples than before the call have
// been taken, or ctx ends (then it returns ctx's error with the count seen).
func (s *Sampler) WaitSamples(ctx context.Context, n int) error {
	want := s.Count() + n
	t := time.NewTicker(max(s.opts.Interval/4, time.Millisecond))
	defer t.Stop()
	for {
		got := s.Count()
		if got >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("probe: sampler: %d of %d samples taken: %w", got-(want-n), n, ctx.Err())
		case <-t.C:
		}
	}
}

// Samples copies the buffered samples, oldest first.
func (s *Sampler) Samples() []probe.Sample { return s.Snapshot().Samples }

// Markers copies the markers, oldest first.
func (s *Sampler) Markers() []Marker { return s.Snapshot().Markers }

// Snapshot copies the buffered samples and the markers.
func (s *Sampler) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn := Snapshot{
		Source: s.src.Name(), Start: s.start, Interval: s.opts.Interval,
		Samples: make([]probe.Sample, s.n), Markers: append([]Marker(nil), s.markers...),
		Dropped: s.dropped, DroppedMarkers: s.mDrop, Errors: s.errs, LastError: s.lastErr,
	}
	for i := range s.n {
		sn.Samples[i] = s.buf[(s.head+i)%len(s.buf)]
	}
	return sn
}
