package gates

import (
	"fmt"
	"reflect"
)

// params returns the scenario's params: its defaults with every non-zero
// field of the caller's params (PartialParams) laid over them, then the scopes
// and cycle-cap overrides applied. Params of another scenario's type are an
// error naming both types.
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
