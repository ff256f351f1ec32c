package faults

import (
	"fmt"
	"slices"
	"strings"
)

// Names lists the catalog's fault names, in listing order.
func Names() []string {
	names := make([]string, len(catalog))
	for i, e := range catalog {
		names[i] = e.Name
	}
	return names
}

// Catalog lists every fault with its kind, syntax, doc and params.
func Catalog() []Info {
	infos := make([]Info, len(catalog))
	for i, e := range catalog {
		infos[i] = e.info()
	}
	return infos
}

// Lookup returns the catalog entry of a fault name.
func Lookup(name string) (Info, bool) {
	for _, e := range catalog {
		if e.Name == name {
			return e.info(), true
		}
	}
	return Info{}, false
}

// info is the entry's Info with its Syntax: the name, then the required
// params, then the optional ones in brackets.
func (e entry) info() Info {
	in := e.Info
	in.Params = slices.Clone(e.Params)
	var b strings.Builder
	b.WriteString(e.Name)
	sep := ":"
	for _, required := range []bool{true, false} {
		for _, p := range e.Params {
			if p.Required != required {
				continue
			}
			if required {
				fmt.Fprintf(&b, "%s%s=%s", sep, p.Key, p.Value)
			} else {
				fmt.Fprintf(&b, "[%s%s=%s]", sep, p.Key, p.Value)
			}
			sep = ","
		}
	}
	in.Syntax = b.String()
	return in
}

func (e entry) keys() []string {
	keys := make([]string, len(e.Params))
	for i, p := range e.Params {
		keys[i] = p.Key
	}
	return keys
}

// ParseSpec builds a fault of either kind from its text form, "name" or
// "name:key=value,key=value", e.g. "latency:latency=50ms,jitter=10ms" or
// "http500:count=1". It refuses an unknown name, an unknown, repeated or
// missing required key and a bad value, naming the fault, the key and the
// value. Every Spec's String method returns a form that ParseSpec reads
// back.
func ParseSpec(s string) (Spec, error) {
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
	keys := e.keys()
	p := &params{fault: name, values: map[string]string{}}
	if hasParams && strings.TrimSpace(rest) != "" {
		for _, kv := range strings.Split(rest, ",") {
			k, v, ok := strings.Cut(kv, "=")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if !ok || k == "" {
				return nil, fmt.Errorf("faults: %s: parameter %q is not key=value", name, strings.TrimSpace(kv))
			}
			if !slices.Contains(keys, k) {
				if len(keys) == 0 {
					return nil, fmt.Errorf("faults: %s: unknown key %q (%s takes no parameters)", name, k, name)
				}
				return nil, fmt.Errorf("faults: %s: unknown key %q (known: %s)", name, k, strings.Join(keys, ", "))
			}
			if _, dup := p.values[k]; dup {
				return nil, fmt.Errorf("faults: %s: key %q given twice", name, k)
			}
			p.values[k] = v
		}
	}
	for _, prm := range e.Params {
		if _, ok := p.values[prm.Key]; prm.Required && !ok {
			return nil, fmt.Errorf("faults: %s: missing key %q (e.g. %s)", name, prm.Key, e.Example)
		}
	}
	f, err := e.parse(p)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Parse is ParseSpec for a network fault: it refuses a repo fault.
func Parse(s string) (Fault, error) {
	sp, err := ParseSpec(s)
	if err != nil {
		return nil, err
	}
	f, ok := sp.(Fault)
	if !ok {
		return nil, fmt.Errorf("faults: %s is a %s fault, not a network fault", sp.Name(), KindRepo)
	}
	return f, nil
}

// ParseRepo is ParseSpec for a repo fault: it refuses a network fault.
func ParseRepo(s string) (RepoFault, error) {
	sp, err := ParseSpec(s)
	if err != nil {
		return RepoFault{}, err
	}
	f, ok := sp.(RepoFault)
	if !ok {
		return RepoFault{}, fmt.Errorf("faults: %s is a %s fault, not a repo fault", sp.Name(), KindNetwork)
	}
	return f, nil
}

// MustParse is Parse for network fault strings fixed in code; it panics on
// error.
func MustParse(s string) Fault {
	f, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return f
}
