package testbed_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gitchaos/gitchaos/fixtures/repogen"
	"github.com/gitchaos/gitchaos/harness/testbed"
)

// reportMedian adds the median of ds as a metric (go test -bench reports
// the mean as ns/op).
func reportMedian(b *testing.B, ds []time.Duration, unit string) {
	b.Helper()
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2])/float64(time.Millisecond), unit)
}

// BenchmarkStart starts and closes a local testbed of 4 hosts × 100 repos.
func BenchmarkStart(b *testing.B) {
	var ds []time.Duration
	for b.Loop() {
		l, err := testbed.StartLocal(context.Background(), testbed.Options{Hosts: 4, Repos: 100, Seed: 1, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		ds = append(ds, l.StartTime())
		b.StopTimer()
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	reportMedian(b, ds, "ms-median-start")
}

// BenchmarkClone clones a default-spec repo through the embedded proxy
// (no fault), per engine and client.
func BenchmarkClone(b *testing.B) {
	for _, engine := range engines(b) {
		l := start(b, testbed.Options{Hosts: 1, Repos: 1, Engine: engine, Logger: quiet})
		h := l.Hosts()[0]
		url := h.RepoURL("r000")
		for _, c := range clients(b) {
			b.Run(string(engine)+"/"+c.name, func(b *testing.B) {
				var ds []time.Duration
				for b.Loop() {
					dir := cloneDir(b)
					begin := time.Now()
					if err := c.clone(context.Background(), url, dir); err != nil {
						b.Fatal(err)
					}
					ds = append(ds, time.Since(begin))
				}
				reportMedian(b, ds, "ms-median-clone")
			})
		}
	}
}

// BenchmarkProxyCost alternates a clone straight at the git server and one
// through the proxy (default engine), so both see the same machine load,
// and reports both medians: what the embedded proxy costs a clone.
func BenchmarkProxyCost(b *testing.B) {
	l := start(b, testbed.Options{Hosts: 1, Repos: 1, Logger: quiet, Spec: repogen.DefaultSpec()})
	h := l.Hosts()[0]
	for _, c := range clients(b) {
		b.Run(c.name, func(b *testing.B) {
			var direct, proxied []time.Duration
			for b.Loop() {
				for _, u := range []struct {
					url string
					ds  *[]time.Duration
				}{{h.DirectRepoURL("r000"), &direct}, {h.RepoURL("r000"), &proxied}} {
					dir := cloneDir(b)
					begin := time.Now()
					if err := c.clone(context.Background(), u.url, dir); err != nil {
						b.Fatal(err)
					}
					*u.ds = append(*u.ds, time.Since(begin))
				}
			}
			reportMedian(b, direct, "ms-median-direct")
			reportMedian(b, proxied, "ms-median-proxied")
		})
	}
}
