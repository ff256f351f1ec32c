package flat

import (
	"fmt"
	"math"
	"strings"
)

// Units of well-known metrics (names as in harness/probe). A metric not
// listed here whose name ends in "_bytes" is in bytes; anything else is a
// plain count named by Unit "".
var Units = map[string]string{
	"fds":        "fds",
	"goroutines": "goroutines",
	"threads":    "threads",
	"processes":  "processes",
	"rss_bytes":  "bytes",
	"heap_bytes": "bytes",
	"disk_bytes": "bytes",
	"disk_files": "files",
	"rss_kb":     "KiB",
}

// UnitOf returns the unit of a metric: Units[metric], "bytes" for names
// ending in "_bytes", else "".
func UnitOf(metric string) string {
	if u, ok := Units[metric]; ok {
		return u
	}
	if strings.HasSuffix(metric, "_bytes") {
		return "bytes"
	}
	return ""
}

// formatValue renders v in unit: bytes get IEC units (KiB, MiB, GiB),
// counts up to one decimal. signed adds a leading + to non-negative values.
func formatValue(v float64, unit string, signed bool) string {
	sign := ""
	if signed && (v > 0 || (v == 0 && !math.Signbit(v))) {
		sign = "+"
	}
	if unit == "bytes" {
		a := math.Abs(v)
		switch {
		case a >= 1<<30:
			return fmt.Sprintf("%s%.1f GiB", sign, v/(1<<30))
		case a >= 1<<20:
			return fmt.Sprintf("%s%.1f MiB", sign, v/(1<<20))
		case a >= 1<<10:
			return fmt.Sprintf("%s%.1f KiB", sign, v/(1<<10))
		default:
			return fmt.Sprintf("%s%.0f B", sign, v)
		}
	}
	s := trimFloat(v)
	if unit != "" {
		s += " " + unit
	}
	return sign + s
}

// formatBudget renders a budget: whole numbers of bytes stay short
// ("64 KiB", "0 B"), counts plain ("0 fds").
func formatBudget(v float64, unit string) string {
	if unit == "bytes" {
		for _, u := range []struct {
			name string
			size float64
		}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
			if v != 0 && math.Abs(v) >= u.size && math.Mod(v, u.size) == 0 {
				return fmt.Sprintf("%.0f %s", v/u.size, u.name)
			}
		}
		return formatValue(v, unit, false)
	}
	return formatValue(v, unit, false)
}

// trimFloat prints integers without decimals and others with up to 3
// significant decimals.
func trimFloat(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return fmt.Sprintf("%.0f", v)
	}
	a := math.Abs(v)
	switch {
	case a >= 100:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}
