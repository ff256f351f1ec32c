package flat

import (
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
