package result

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// FormatValue renders v in unit for people, the one way every table,
// report and verdict text shows a number: bytes in IEC units ("585.7 KiB",
// "0 B"), seconds as "249 ms", "1.50 s" or, from a minute, "2m4s", counts
// and other units with up to three significant decimals ("0.667 fds",
// "27"), and a unit "x/y" as x per y ("3.1 KiB/cycle", "+1 fds/cycle").
// Units "count" and "" print the bare number.
func FormatValue(v float64, unit string) string { return format(v, unit, false) }

// FormatSigned is FormatValue with a leading + on non-negative values: a
// slope or a change.
func FormatSigned(v float64, unit string) string { return format(v, unit, true) }

// FormatBudget renders a budget: whole numbers of bytes stay short ("64
// KiB", "0 B"); everything else as FormatValue.
func FormatBudget(v float64, unit string) string {
	if base, per, ok := strings.Cut(unit, "/"); ok {
		return FormatBudget(v, base) + "/" + per
	}
	if unit == "bytes" {
		for _, u := range []struct {
			name string
			size float64
		}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
			if v != 0 && math.Abs(v) >= u.size && math.Mod(v, u.size) == 0 {
				return fmt.Sprintf("%.0f %s", v/u.size, u.name)
			}
		}
	}
	return FormatValue(v, unit)
}

// FormatDuration renders seconds as a short duration ("12ms", "7.9s",
// "2m4s"); "?" for a negative or non-finite value.
func FormatDuration(s Seconds) string {
	f := float64(s)
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return "?"
	}
	d := time.Duration(f * float64(time.Second))
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func format(v float64, unit string, signed bool) string {
	if base, per, ok := strings.Cut(unit, "/"); ok {
		return format(v, base, signed) + "/" + per
	}
	sign := ""
	if signed && (v > 0 || (v == 0 && !math.Signbit(v))) {
		sign = "+"
	}
	a := math.Abs(v)
	switch unit {
	case "bytes":
		switch {
		case a >= 1<<30:
			return fmt.Sprintf("%s%.1f GiB", sign, v/(1<<30))
		case a >= 1<<20:
			return fmt.Sprintf("%s%.1f MiB", sign, v/(1<<20))
		case a >= 1<<10:
			return fmt.Sprintf("%s%.1f KiB", sign, v/(1<<10))
		}
		return fmt.Sprintf("%s%.0f B", sign, v)
	case "s":
		switch {
		case math.IsNaN(v) || math.IsInf(v, 0):
			return fmt.Sprintf("%v s", v)
		case a < 0.1:
			return fmt.Sprintf("%s%.3g ms", sign, v*1e3)
		case a < 1:
			return fmt.Sprintf("%s%.0f ms", sign, v*1e3)
		case v >= 60:
			return sign + FormatDuration(Seconds(v))
		}
		return fmt.Sprintf("%s%.2f s", sign, v)
	case "count", "":
		return sign + trimFloat(v)
	}
	return sign + trimFloat(v) + " " + unit
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
	}
	return fmt.Sprintf("%.3g", v)
}
