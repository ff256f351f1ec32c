package faults

import (
	"fmt"
	"slices"
	"strings"
)

// Info describes one catalog entry, for --help and listings.
type Info struct {
	Name   string // catalog name, e.g. "latency"
	Syntax string // e.g. "latency:latency=DUR[,jitter=DUR][,stream=S]"
	Doc    string // one line: the observable effect
}

type entry struct {
	Info
	keys  []string                       // accepted parameter keys
	parse func(p *params) (Fault, error) // builds the fault from validated keys
}

// catalog holds every fault, in listing order. Each fault's file adds its
// entry from an init function.
var catalog []entry

func register(e entry) {
	for _, have := range catalog {
		if have.Name == e.Name {
			panic("faults: duplicate fault " + e.Name)
		}
	}
	catalog = append(catalog, e)
	slices.SortStableFunc(catalog, func(a, b entry) int { return order(a.Name) - order(b.Name) })
}

// order is the catalog's listing order (init order across files is by
// file name, which is not the order a reader expects).
func order(name string) int {
	i := slices.Index([]string{"offline", "blackhole", "stall", "latency", "bandwidth", "reset", "slow-close", "flap"}, name)
	if i < 0 {
		return 100
	}
	return i
}

// Names lists the catalog's fault names.
func Names() []string {
	names := make([]string, len(catalog))
	for i, e := range catalog {
		names[i] = e.Name
	}
	return names
}

// Catalog lists every fault with its syntax and a one-line description.
func Catalog() []Info {
	infos := make([]Info, len(catalog))
	for i, e := range catalog {
		infos[i] = e.Info
	}
	return infos
}

// Lookup returns the catalog entry of a fault name.
func Lookup(name string) (Info, bool) {
	for _, e := range catalog {
		if e.Name == name {
			return e.Info, true
		}
	}
	return Info{}, false
}

// Parse builds a fault from its text form, "name" or
// "name:key=value,key=value", e.g. "latency:latency=50ms,jitter=10ms".
// Every fault's String method returns a form that Parse reads back.
func Parse(s string) (Fault, error) {
	s = strings.TrimSpace(s)
	name, rest, hasParams := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, fmt.Errorf("faults: empty fault name in %q (known: %s)", s, strings.Join(Names(), ", "))
	}
	i := slices.IndexFunc(catalog, func(e entry) bool { return e.Name == name })
	if i < 0 {
		return nil, fmt.Errorf("faults: unknown fault %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	e := catalog[i]
	p := &params{fault: name, values: map[string]string{}}
	if hasParams && strings.TrimSpace(rest) != "" {
		for _, kv := range strings.Split(rest, ",") {
			k, v, ok := strings.Cut(kv, "=")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if !ok || k == "" {
				return nil, fmt.Errorf("faults: %s: parameter %q is not key=value", name, strings.TrimSpace(kv))
			}
			if !slices.Contains(e.keys, k) {
				if len(e.keys) == 0 {
					return nil, fmt.Errorf("faults: %s: unknown key %q (%s takes no parameters)", name, k, name)
				}
				return nil, fmt.Errorf("faults: %s: unknown key %q (known: %s)", name, k, strings.Join(e.keys, ", "))
			}
			if _, dup := p.values[k]; dup {
				return nil, fmt.Errorf("faults: %s: key %q given twice", name, k)
			}
			p.values[k] = v
		}
	}
	f, err := e.parse(p)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// MustParse is Parse for fault strings fixed in code; it panics on error.
func MustParse(s string) Fault {
	f, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return f
}
