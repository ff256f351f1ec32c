package result

import (
	"math"
	"testing"
)

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		v      float64
		unit   string
		signed bool
		want   string
	}{
		{3174, "bytes/cycle", false, "3.1 KiB/cycle"},
		{585.7 * 1024, "bytes/cycle", true, "+585.7 KiB/cycle"},
		{48 << 20, "bytes", false, "48.0 MiB"},
		{0, "bytes", true, "+0 B"},
		{-2048, "bytes", true, "-2.0 KiB"},
		{3 << 30, "bytes", false, "3.0 GiB"},
		{0.0253, "s", false, "25.3 ms"},
		{0.249, "s", false, "249 ms"},
		{0.9997, "s", false, "1000 ms"},
		{1.5, "s", false, "1.50 s"},
		{124, "s", false, "2m4s"},
		{9999.5, "s", false, "2h46m40s"},
		{math.Inf(1), "s", false, "+Inf s"},
		{1.02, "fds/cycle", false, "1.02 fds/cycle"},
		{8, "fds/cycle", true, "+8 fds/cycle"},
		{0.6667, "threads/round", true, "+0.667 threads/round"},
		{27, "count", false, "27"},
		{0.5, "", false, "0.5"},
		{123.45, "", false, "123.5"},
	} {
		got := FormatValue(c.v, c.unit)
		if c.signed {
			got = FormatSigned(c.v, c.unit)
		}
		if got != c.want {
			t.Errorf("format(%v, %q, signed %v) = %q, want %q", c.v, c.unit, c.signed, got, c.want)
		}
	}
	for _, c := range []struct {
		v    float64
		unit string
		want string
	}{
		{64 << 10, "bytes/cycle", "64 KiB/cycle"},
		{0, "bytes", "0 B"},
		{1536, "bytes", "1.5 KiB"},
		{0, "fds/cycle", "0 fds/cycle"},
	} {
		if got := FormatBudget(c.v, c.unit); got != c.want {
			t.Errorf("FormatBudget(%v, %q) = %q, want %q", c.v, c.unit, got, c.want)
		}
	}
	if got := FormatDuration(-1); got != "?" {
		t.Errorf("FormatDuration(-1) = %q, want ?", got)
	}
}
