package nn

import (
	"runtime"
	"sync"
)

// ParallelFor runs fn(w, i) for i in [0,n) on up to GOMAXPROCS goroutines; w
// is the goroutine's index in [0, GOMAXPROCS), for per-worker scratch space.
// Each index is one unit of work whose result does not depend on which
// goroutine ran it, so results stay bit-for-bit reproducible.
func ParallelFor(n int, fn func(w, i int)) {
	workers := maxWorkers()
	if workers > n {
		workers = n
	}
	if workers <= 1 {
		for i := 0; i < n; i++ {
			fn(0, i)
		}
		return
	}
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	wg.Add(workers)
	for w := 0; w < workers; w++ {
		go func(w int) {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				fn(w, i)
			}
		}(w)
	}
	wg.Wait()
}

// chunks splits n items into at most k contiguous ranges of near-equal size.
// The split depends only on n and k, never on the core count, so reductions
// over chunks add up in the same order on every machine.
func chunks(n, k int) [][2]int {
	if k > n {
		k = n
	}
	out := make([][2]int, 0, k)
	for c := 0; c < k; c++ {
		out = append(out, [2]int{c * n / k, (c + 1) * n / k})
	}
	return out
}

// maxWorkers is how many goroutines ParallelFor may use.
func maxWorkers() int { return runtime.GOMAXPROCS(0) }

// ParallelRange splits [0,n) into one contiguous range per worker, for
// element-wise loops whose results do not depend on the split.
func ParallelRange(n int, fn func(lo, hi int)) {
	cs := chunks(n, maxWorkers())
	ParallelFor(len(cs), func(_, i int) { fn(cs[i][0], cs[i][1]) })
}

// partials holds one buffer per chunk of a reduction over the batch; adding
// them in chunk order keeps the sum independent of the core count.
type partials [][]float32

// prepare returns n buffers of size floats, reused across runs; each chunk
// must overwrite its whole buffer.
func (p *partials) prepare(n, size int) partials {
	if len(*p) != n || len((*p)[0]) != size {
		*p = make(partials, n)
		for i := range *p {
			(*p)[i] = make([]float32, size)
		}
	}
	return *p
}

// sumInto adds the buffers in chunk order into dst, which may be p[0].
func (p partials) sumInto(dst []float32) {
	copy(dst, p[0])
	for _, part := range p[1:] {
		for i, v := range part {
			dst[i] += v
		}
	}
}
