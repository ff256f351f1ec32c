package gates

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/gitchaos/gitchaos/harness/testbed"
)

func repoNames(rs []Repo) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Name
	}
	return out
}

func sortedMax(ds []time.Duration) time.Duration {
	m := ds[0]
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

func fmtOver(sorted []float64, p float64) string {
	if len(sorted) == 0 {
		return "n/a"
	}
	k := int(float64(len(sorted))*p/100+0.5) - 1
	k = max(0, min(k, len(sorted)-1))
	return fmt.Sprintf("%+.0f ms", sorted[k]*1000)
}

// watchOps polls a host's counters every 5 ms and times each git request
// on the named repos from the moment the server counts it in flight until
// it is no longer in flight; it returns the durations and the repos still
// in flight when the deadline passed.
func (s *S) watchOps(ctx context.Context, h *testbed.Host, names []string, deadline time.Duration) ([]time.Duration, []string) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	started := map[string]time.Time{}
	seen := map[string]int64{}
	var durs []time.Duration
	end := time.Now().Add(deadline)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	idle := 0
	for time.Now().Before(end) && ctx.Err() == nil {
		cs, err := h.Admin.AllCounters(ctx)
		now := time.Now()
		if err == nil {
			active := 0
			for name, c := range cs {
				if !want[name] {
					continue
				}
				total := c.InfoRefs + c.UploadPacks
				if c.InFlight > 0 {
					active++
					if _, ok := started[name]; !ok {
						started[name] = now
					}
				} else if t0, ok := started[name]; ok {
					durs = append(durs, now.Sub(t0))
					delete(started, name)
				}
				seen[name] = total
			}
			// Done once something ran and nothing has been in flight for 250 ms.
			if active == 0 && (len(durs) > 0) {
				idle++
				if idle >= 50 {
					break
				}
			} else {
				idle = 0
			}
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	var open []string
	for n := range started {
		open = append(open, h.Name+"/"+n)
	}
	sort.Strings(open)
	return durs, open
}
