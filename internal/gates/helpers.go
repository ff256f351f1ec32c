package gates

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gitchaos/gitchaos/harness/faults"
)

// paramsMap renders a params struct for the report.
func paramsMap(p any) map[string]any {
	b, err := json.Marshal(p)
	if err != nil {
		return nil
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func short(h string) string {
	if len(h) > 10 {
		return h[:10]
	}
	if h == "" {
		return "(none)"
	}
	return h
}

// fault parses a catalog fault, failing the scenario on a bad spec.
func fault(spec string) faults.Spec {
	f, err := faults.ParseSpec(spec)
	if err != nil {
		panic(fmt.Sprintf("scenarios: bad built-in fault %q: %v", spec, err))
	}
	return f
}

// percentile of durations (p in 0..100), nearest-rank.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	k := int(float64(len(s))*p/100+0.5) - 1
	k = max(0, min(k, len(s)-1))
	return s[k]
}

func joinIDs(ids []string) string {
	if len(ids) > 5 {
		return strings.Join(ids[:5], ", ") + fmt.Sprintf(" (+%d more)", len(ids)-5)
	}
	return strings.Join(ids, ", ")
}
