package probetest

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// cycle runs one cycle. Parameters (key=value):
//
//	fd=R go=R heap=BYTES   leak R fds / goroutines per cycle (fractions
//	                       accumulate: fd=0.25 leaks one every 4 cycles)
//	                       and BYTES of heap per cycle
//	noise=1                temporary work: tmpheap bytes (default 8 MiB,
//	                       varied ±50%), tmpfd fds (8), tmpgo goroutines (8)
//	                       held for hold (20ms), then released; a random
//	                       explicit GC half the time
//	cache=BYTES every=K    sawtooth: a cache grows by BYTES per cycle and is
//	                       dropped every K cycles
func (st *state) cycle(args []string) (string, error) {
	p := map[string]string{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return "", fmt.Errorf("cycle: argument %q: want key=value", a)
		}
		p[k] = v
	}
	num := func(k string, def float64) (float64, error) {
		v, ok := p[k]
		if !ok {
			return def, nil
		}
		delete(p, k)
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || x < 0 {
			return 0, fmt.Errorf("cycle: %s=%q: want a number >= 0", k, v)
		}
		return x, nil
	}
	fdRate, err1 := num("fd", 0)
	goRate, err2 := num("go", 0)
	heapRate, err3 := num("heap", 0)
	noise, err4 := num("noise", 0)
	tmpHeap, err5 := num("tmpheap", 8<<20)
	tmpFD, err6 := num("tmpfd", 8)
	tmpGo, err7 := num("tmpgo", 8)
	cache, err8 := num("cache", 0)
	every, err9 := num("every", 4)
	holdS, ok := p["hold"]
	delete(p, "hold")
	hold := 20 * time.Millisecond
	var err10 error
	if ok {
		hold, err10 = time.ParseDuration(holdS)
	}
	if err := errors.Join(err1, err2, err3, err4, err5, err6, err7, err8, err9, err10); err != nil {
		return "", err
	}
	for k := range p {
		return "", fmt.Errorf("cycle: unknown parameter %q", k)
	}
	st.cycles++
	if noise > 0 {
		size := int(tmpHeap * (0.5 + st.rng.Float64()))
		var tmp [][]byte
		for left := size; left > 0; left -= 64 << 10 {
			tmp = append(tmp, touched(min(left, 64<<10)))
		}
		var files []*os.File
		for range int(tmpFD) {
			f, err := os.Open(os.DevNull)
			if err != nil {
				return "", fmt.Errorf("cycle: open %s: %w", os.DevNull, err)
			}
			files = append(files, f)
		}
		done := make(chan struct{})
		var wg sync.WaitGroup
		for range int(tmpGo) {
			wg.Go(func() { <-done })
		}
		time.Sleep(hold) // the temporary work's duration
		close(done)
		wg.Wait()
		for _, f := range files {
			f.Close()
		}
		runtime.KeepAlive(tmp)
		if st.rng.IntN(2) == 0 {
			runtime.GC()
		}
	}
	if cache > 0 {
		if every > 0 && st.cycles%int(every) == 0 {
			st.cache = nil
		} else {
			st.cache = append(st.cache, touched(int(cache)))
		}
	}
	leak := func(k string, rate float64, f func(n int) error) error {
		st.acc[k] += rate
		n := int(st.acc[k] + 1e-9)
		st.acc[k] -= float64(n)
		if n == 0 {
			return nil
		}
		return f(n)
	}
	if err := leak("fd", fdRate, st.openFDs); err != nil {
		return "", err
	}
	_ = leak("go", goRate, func(n int) error { st.startGoroutines(n); return nil })
	if heapRate > 0 {
		st.heap = append(st.heap, touched(int(heapRate)))
	}
	return strconv.Itoa(st.cycles), nil
}
