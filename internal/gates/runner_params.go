package gates

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/repogen"
)

// params returns the scenario's params: its defaults with every non-zero
// field of the caller's params (PartialParams) laid over them, then the scopes
// and cycle-cap overrides applied, then validated (the params' Validate).
// Params of another scenario's type are an error naming both types.
func params(sc *Gate, opts Options) (any, error) {
	p := sc.Params()
	var err error
	switch user := opts.Params[sc.Name].(type) {
	case nil:
	case PartialParams:
		p, err = overlay(p, user.P)
	default: // complete: decoded onto the defaults (a suite file)
		if p != nil && reflect.TypeOf(user) != reflect.TypeOf(p) {
			err = fmt.Errorf("got %T, want %T", user, p)
		}
		p = user
	}
	if err != nil {
		return nil, fmt.Errorf("params of %s: %w", sc.Name, err)
	}
	if opts.Scopes > 0 {
		if sp, ok := p.(interface{ setScopes(int) }); ok {
			sp.setScopes(opts.Scopes)
		}
	}
	if opts.MaxCycles > 0 {
		if sp, ok := p.(interface{ setMaxCycles(int) }); ok {
			sp.setMaxCycles(opts.MaxCycles)
		}
	}
	if v, ok := p.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// PartialParams are params a Go test gives (package scenarios): a pointer
// to the gate's params struct whose zero fields take the gate's defaults.
// A suite file's params are decoded onto the defaults and used as they
// are, explicit zeros included.
type PartialParams struct{ P any }

// overlay returns a copy of def (a pointer to a params struct) with every
// exported field that is non-zero in user (the same pointer type) taken
// from user: a partly filled params struct keeps the defaults it leaves
// out (&BootParams{Scopes: 48} keeps its budgets).
func overlay(def, user any) (any, error) {
	if def == nil {
		return user, nil
	}
	dv, uv := reflect.ValueOf(def), reflect.ValueOf(user)
	if uv.Type() != dv.Type() {
		return nil, fmt.Errorf("got %T, want %T", user, def)
	}
	if uv.IsNil() {
		return def, nil
	}
	out := reflect.New(dv.Type().Elem())
	out.Elem().Set(dv.Elem())
	for i := range uv.Elem().NumField() {
		f := uv.Elem().Field(i)
		if dv.Type().Elem().Field(i).IsExported() && !f.IsZero() {
			out.Elem().Field(i).Set(f)
		}
	}
	return out.Interface(), nil
}

// paramCheck collects what is wrong with one gate's params. Every error
// names the gate, the field as suite files spell it (its yaml name) and
// the value: "churn: cycles 0: want >= 11".
type paramCheck struct {
	gate string
	errs []error
}

// fail records field's value as wrong, with what is wanted instead.
func (c *paramCheck) fail(field string, value any, want string) {
	c.errs = append(c.errs, fmt.Errorf("%s: %s %v: want %s", c.gate, field, value, want))
}

// atLeast wants v >= lo; why, when set, follows the rule in parentheses.
func (c *paramCheck) atLeast(field string, v, lo int, why string) {
	if v < lo {
		c.fail(field, v, fmt.Sprintf(">= %d", lo)+paren(why))
	}
}

// between wants lo <= v <= hi.
func (c *paramCheck) between(field string, v, lo, hi int, why string) {
	if v < lo || v > hi {
		c.fail(field, v, fmt.Sprintf("%d..%d", lo, hi)+paren(why))
	}
}

// nonNegative wants d >= 0 (0 is the field's default, or none).
func (c *paramCheck) nonNegative(field string, d time.Duration) {
	if d < 0 {
		c.fail(field, d, ">= 0")
	}
}

// positive wants d > 0: a budget or a fault's phase, where 0 fails every
// run or is refused by the fault.
func (c *paramCheck) positive(field string, d time.Duration) {
	if d <= 0 {
		c.fail(field, d, "> 0")
	}
}

// spec wants a repo spec repogen accepts (zero: repogen.DefaultSpec).
func (c *paramCheck) spec(field string, s repogen.Spec) {
	if s.IsZero() {
		return
	}
	if err := s.Validate(); err != nil {
		c.errs = append(c.errs, fmt.Errorf("%s: %s: %w", c.gate, field, err))
	}
}

// budgets wants every key a judged leak metric and every budget >= 0.
func (c *paramCheck) budgets(field string, m map[string]float64) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		switch {
		case !isLeakMetric(k):
			c.fail(field+"."+k, m[k], "a leak metric ("+strings.Join(leakMetrics, ", ")+")")
		case m[k] < 0 || math.IsNaN(m[k]):
			c.fail(field+"."+k, m[k], ">= 0")
		}
	}
}

// err is every error found, joined (nil: the params are valid).
func (c *paramCheck) err() error { return errors.Join(c.errs...) }

func paren(why string) string {
	if why == "" {
		return ""
	}
	return " (" + why + ")"
}

// validateParams resolves and validates the params of every gate o runs
// (Only, or the whole suite), with the scopes and cycle-cap overrides
// applied, so that a bad param of the last gate fails before the first
// starts. Every gate's errors are reported, joined.
func (o *Options) validateParams() error {
	names := o.Only
	if len(names) == 0 {
		names = Names()
	}
	var errs []error
	for _, n := range names {
		sc, err := Lookup(n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := params(sc, *o); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
