package scenarios

import (
	"reflect"
	"testing"

	"github.com/gitchaos/gitchaos/internal/gates"
)

// TestSuiteIsTheGates: Suite lists every gate of gitchaos gate, in its
// order, each with that gate's defaults, and names each as the gate does.
func TestSuiteIsTheGates(t *testing.T) {
	suite := Suite()
	if len(suite) != len(gates.Suite) {
		t.Fatalf("Suite() has %d gates, the suite %d", len(suite), len(gates.Suite))
	}
	for i, g := range suite {
		sc := gates.Suite[i]
		if g.GateName() != sc.Name {
			t.Errorf("Suite()[%d] is %q, the suite's gate %d is %q", i, g.GateName(), i, sc.Name)
		}
		if def := reflect.ValueOf(sc.Params()).Elem().Interface(); !reflect.DeepEqual(g, def) {
			t.Errorf("Suite()[%d] (%s) = %+v, want the defaults %+v", i, sc.Name, g, def)
		}
	}
}

// TestPointerTo: a params value and a pointer to one both reach the gate
// as a pointer to a copy (the caller's struct is never written); a nil
// pointer is the defaults.
func TestPointerTo(t *testing.T) {
	v := ChurnParams{Cycles: 20}
	p := pointerTo(v).(*ChurnParams)
	if p.Cycles != 20 {
		t.Fatalf("pointerTo(value) = %+v, want Cycles 20", p)
	}
	p.Cycles = 1
	if v.Cycles != 20 {
		t.Fatal("pointerTo(value) shares the caller's struct")
	}
	q := &ChurnParams{Scopes: 4}
	if got := pointerTo(q).(*ChurnParams); got == q || got.Scopes != 4 {
		t.Fatalf("pointerTo(pointer) = %p %+v, want a copy of %p with Scopes 4", got, got, q)
	}
	if got := pointerTo((*ChurnParams)(nil)); got != nil {
		t.Fatalf("pointerTo(nil pointer) = %v, want nil (the defaults)", got)
	}
}
