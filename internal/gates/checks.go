package gates

// Units used by checks.
const (
	unitSeconds = "s"
	unitCount   = "count"
	unitBytes   = "bytes"
)
