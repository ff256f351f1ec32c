package faults

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// params are the key=value pairs of one parsed fault string; the getters
// return errors that name the fault, the key and the bad value.
type params struct {
	fault  string
	values map[string]string
}

func (p *params) errorf(key, format string, args ...any) error {
	return fmt.Errorf("faults: %s: %s=%q: %s", p.fault, key, p.values[key], fmt.Sprintf(format, args...))
}

func (p *params) duration(key string, def time.Duration) (time.Duration, error) {
	v, ok := p.values[key]
	if !ok {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, p.errorf(key, "not a duration (want e.g. 250ms, 2s)")
	}
	return d, nil
}

func (p *params) integer(key string, def int64) (int64, error) {
	v, ok := p.values[key]
	if !ok {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, p.errorf(key, "not an integer")
	}
	return n, nil
}

// size parses a byte count: a plain integer or one with a suffix
// B, KB, KiB, MB, MiB (KB = 1000, KiB = 1024; case-insensitive).
func (p *params) size(key string, def int64) (int64, error) {
	v, ok := p.values[key]
	if !ok {
		return def, nil
	}
	n, err := ParseSize(v)
	if err != nil {
		return 0, p.errorf(key, "%v", err)
	}
	return n, nil
}

func (p *params) stream(key string, def Stream) (Stream, error) {
	v, ok := p.values[key]
	if !ok {
		return def, nil
	}
	s := Stream(v)
	if err := s.Validate(); err != nil {
		return "", p.errorf(key, "want downstream, upstream or both")
	}
	return s, nil
}

// ParseSize reads a byte count such as "4096", "16KiB", "1MB".
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	lower := strings.ToLower(t)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"kb", 1000}, {"mb", 1000 * 1000}, {"gb", 1000 * 1000 * 1000}, {"k", 1 << 10}, {"m", 1 << 20}, {"b", 1}} {
		if strings.HasSuffix(lower, u.suffix) {
			mult = u.mult
			t = strings.TrimSpace(t[:len(t)-len(u.suffix)])
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a byte size (want e.g. 4096, 16KiB, 1MB)")
	}
	return n * mult, nil
}

// Stream selects the direction(s) a toxic acts on, as toxiproxy names
// them: downstream is server to client, upstream client to server.
type Stream string

// Streams.
const (
	Downstream Stream = "downstream"
	Upstream   Stream = "upstream"
	Both       Stream = "both"
)

// Validate reports whether s names a stream.
func (s Stream) Validate() error {
	switch s {
	case Downstream, Upstream, Both:
		return nil
	}
	return fmt.Errorf("stream %q: want downstream, upstream or both", string(s))
}

// directions expands Both into the two toxiproxy streams.
func (s Stream) directions() []string {
	if s == Both {
		return []string{string(Upstream), string(Downstream)}
	}
	return []string{string(s)}
}

// millis converts a duration to toxiproxy's whole milliseconds, refusing
// what would silently round to a different value.
func millis(fault, field string, d time.Duration) (int64, error) {
	if d < 0 {
		return 0, fmt.Errorf("faults: %s: %s %v is negative", fault, field, d)
	}
	if d%time.Millisecond != 0 {
		return 0, fmt.Errorf("faults: %s: %s %v is not a whole number of milliseconds (toxiproxy's unit)", fault, field, d)
	}
	return d.Milliseconds(), nil
}
