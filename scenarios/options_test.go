package scenarios

import (
	"context"
	"strings"
	"testing"

	"github.com/gitchaos/gitchaos/harness/target"
)

// TestWithTestbedNil: a nil testbed factory is an error naming the
// problem, never a silent run on the local testbed labelled "docker".
func TestWithTestbedNil(t *testing.T) {
	for _, kind := range []string{"docker", "local"} {
		o := Options{Targets: &target.InProcess{}}
		WithTestbed(kind, nil)(&o)
		o.defaults()
		err := o.Validate()
		if err == nil || !strings.Contains(err.Error(), "nil factory") || !strings.Contains(err.Error(), `"`+kind+`"`) {
			t.Errorf("WithTestbed(%q, nil): Validate = %v, want an error naming the nil factory of %q", kind, err, kind)
		}
		if _, err := RunSuite(context.Background(), o); err == nil {
			t.Errorf("WithTestbed(%q, nil): RunSuite ran", kind)
		}
		sc, lerr := Lookup("offline")
		if lerr != nil {
			t.Fatal(lerr)
		}
		if res := RunOne(context.Background(), sc, o); !strings.Contains(res.Error, "nil factory") {
			t.Errorf("WithTestbed(%q, nil): RunOne error = %q, want the nil factory named", kind, res.Error)
		}
	}
	// The default (no WithTestbed) is the local testbed.
	o := Options{Targets: &target.InProcess{}}
	o.defaults()
	if err := o.Validate(); err != nil || o.TestbedKind != "local" || o.Testbeds == nil {
		t.Fatalf("default options: kind %q, factory set %v, Validate %v; want local", o.TestbedKind, o.Testbeds != nil, err)
	}
}
