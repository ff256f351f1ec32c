package faults

import (
	"fmt"

	"github.com/gitchaos/gitchaos/fixtures/gitserver"
)

// Param documents one key a fault's spec takes.
type Param struct {
	Key      string // e.g. "latency"
	Value    string // what the value looks like, e.g. "DUR", "SIZE", "N"
	Required bool   // ParseSpec refuses the spec without it
	Doc      string // one line: what it sets, and its default
}

// Info describes one catalog entry, for --help and listings.
type Info struct {
	Name    string  // catalog name, e.g. "latency"
	Kind    Kind    // what it acts on
	Doc     string  // one line: the observable effect
	Params  []Param // the keys its spec takes, in the order String writes them
	Example string  // a spec that parses, e.g. "latency:latency=50ms"
	// Syntax is the spec's form, made from Name and Params, e.g.
	// "latency:latency=DUR[,jitter=DUR][,stream=downstream|upstream|both]".
	Syntax string
}

type entry struct {
	Info
	parse func(p *params) (Spec, error) // builds the fault from its checked keys
}

// Parameters several faults share.
var (
	streamDown = Param{Key: "stream", Value: "downstream|upstream|both", Doc: "direction it acts on (default downstream: server to client)"}
	repoCount  = Param{Key: "count", Value: "N", Doc: "fault only the next N git requests (0 or absent: until cleared)"}
	repoOp     = Param{Key: "op", Value: gitserver.OpInfoRefs + "|" + gitserver.OpUploadPack, Doc: "fault only that kind of git request (absent: both)"}
)

// catalog is every fault, in listing order: network faults, then repo
// faults (fixtures/gitserver's modes).
var catalog = []entry{
	{Info{Name: "offline", Kind: KindNetwork, Example: "offline",
		Doc: "host down: the proxy stops listening, connections are refused at once and open ones dropped"},
		func(*params) (Spec, error) { return Offline{}, nil }},
	{Info{Name: "blackhole", Kind: KindNetwork, Example: "blackhole",
		Doc: "accepts connections and never answers (no data either way, nothing closed) until recovered"},
		func(*params) (Spec, error) { return Blackhole{}, nil }},
	{Info{Name: "stall", Kind: KindNetwork, Example: "stall:after=16KiB",
		Doc: fmt.Sprintf("data flows, then stops: each connection passes SIZE bytes (default %d) and then hangs open until recovered", DefaultStallAfter),
		Params: []Param{
			{Key: "after", Value: "SIZE", Doc: fmt.Sprintf("bytes each connection passes before it stalls (default %d; 16KiB, 1MB also read)", DefaultStallAfter)},
			streamDown}},
		parseStall},
	{Info{Name: "latency", Kind: KindNetwork, Example: "latency:latency=50ms,jitter=10ms",
		Doc: "slow network: every chunk of data is delayed by latency ± jitter",
		Params: []Param{
			{Key: "latency", Value: "DUR", Required: true, Doc: "delay of each chunk (whole milliseconds)"},
			{Key: "jitter", Value: "DUR", Doc: "uniform spread around latency (default 0)"},
			streamDown}},
		parseLatency},
	{Info{Name: "bandwidth", Kind: KindNetwork, Example: "bandwidth:rate=100",
		Doc: "thin pipe: data flows at most at rate KB/s (1 KB = 1000 bytes)",
		Params: []Param{
			{Key: "rate", Value: "KBPS", Required: true, Doc: "KB/s, > 0"},
			streamDown}},
		parseBandwidth},
	{Info{Name: "reset", Kind: KindNetwork, Example: "reset:timeout=100ms",
		Doc: "connection reset by peer: the first data sent resets the connection (after timeout, default at once)",
		Params: []Param{
			{Key: "timeout", Value: "DUR", Doc: "wait this long after the data before the reset (default 0: at once)"},
			{Key: "stream", Value: "upstream|downstream|both", Doc: "direction whose data resets (default upstream: the client's request)"}}},
		parseReset},
	{Info{Name: "slow-close", Kind: KindNetwork, Example: "slow-close:delay=1s",
		Doc: "lingering close: when the server closes a connection, the client sees the close only after delay",
		Params: []Param{
			{Key: "delay", Value: "DUR", Required: true, Doc: "how late the close arrives (> 0)"},
			streamDown}},
		parseSlowClose},
	{Info{Name: "flap", Kind: KindNetwork, Example: "flap:up=500ms,down=500ms",
		Doc: "host flapping: offline for down, online for up, repeated count times (0 or absent: until recovered)",
		Params: []Param{
			{Key: "up", Value: "DUR", Required: true, Doc: "time online between outages (> 0)"},
			{Key: "down", Value: "DUR", Required: true, Doc: "length of each outage (> 0)"},
			{Key: "count", Value: "N", Doc: "number of outages (0 or absent: until recovered)"}}},
		parseFlap},

	{Info{Name: string(gitserver.FaultHTTP500), Kind: KindRepo, Example: "http500:count=1",
		Doc: "git requests to the repo answer 500 (over SSH: the session ends, exit 128)", Params: []Param{repoCount, repoOp}},
		parseRepo(gitserver.FaultHTTP500)},
	{Info{Name: string(gitserver.FaultGone), Kind: KindRepo, Example: "gone",
		Doc: "git requests answer 404, as if the repo were deleted (over SSH: 'does not appear to be a git repository', exit 128)", Params: []Param{repoCount, repoOp}},
		parseRepo(gitserver.FaultGone)},
	{Info{Name: string(gitserver.FaultAuth), Kind: KindRepo, Example: "auth:op=info/refs",
		Doc: "git requests answer 401 asking for credentials (over SSH: 'Permission denied (publickey)', exit 128)", Params: []Param{repoCount, repoOp}},
		parseRepo(gitserver.FaultAuth)},
	{Info{Name: string(gitserver.FaultHang), Kind: KindRepo, Example: "hang:op=git-upload-pack",
		Doc:    "git requests block until the fault is cleared or replaced, the client goes away or the server closes (over SSH: until the connection closes; op=git-upload-pack holds after the refs)",
		Params: []Param{repoCount, repoOp}},
		parseRepo(gitserver.FaultHang)},
	{Info{Name: string(gitserver.FaultSlow), Kind: KindRepo, Example: "slow:bytes_per_sec=2048,count=4",
		Doc: "upload-pack (the pack) is served at bytes_per_sec (over SSH too)",
		Params: []Param{
			{Key: "bytes_per_sec", Value: "N", Required: true, Doc: "rate of the pack, > 0"},
			{Key: "count", Value: "N", Doc: "slow only the next N upload-pack requests (0 or absent: until cleared)"}}},
		parseRepo(gitserver.FaultSlow)},

	{Info{Name: "diskfull", Kind: KindDisk, Example: "diskfull:free=4096",
		Doc: "disk full: the tmpfs holding the target's base dir is filled until free bytes are left (writes fail with ENOSPC); undone by removing the fill",
		Params: []Param{
			{Key: "free", Value: "SIZE", Doc: "bytes left available (default 0; a tmpfs counts whole pages)"}}},
		parseDiskFull},
}
