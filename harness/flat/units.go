package flat

import "github.com/gitchaos/gitchaos/harness/metric"

// Units of well-known metrics, from harness/metric's table (rows with a
// unit). A metric not listed here whose name ends in "_bytes" is in
// bytes; anything else is a plain count named by Unit "".
var Units = units()

func units() map[string]string {
	out := map[string]string{}
	for _, r := range metric.All() {
		if r.Unit != "" {
			out[r.Name] = r.Unit
		}
	}
	return out
}

// UnitOf returns the unit of a metric (metric.UnitOf): its row's, "bytes"
// for other names ending in "_bytes", else "".
func UnitOf(name string) string { return metric.UnitOf(name) }
