package nn

import "sync"

// im2col and col2im for square kernels over NCHW data: the layouts that turn
// a convolution into one matrix multiply.

// im2col lays one sample's receptive fields out as columns of col: row
// (c,ki,kj), column (oy,ox). Rows are ld apart, so all samples of a batch can
// sit side by side in one matrix. Padding reads as zero.
func (g convGeom) im2col(x, col []float32, ld int) {
	if g.s == 1 && g.ho == g.h && g.wo == g.w {
		g.im2colSame(x, col, ld)
		return
	}
	if g.s == 2 && g.k == 3 && g.p == 1 && g.h%2 == 0 && g.w%2 == 0 && g.h*g.w <= 4096 {
		g.im2colStride2(x, col, ld)
		return
	}
	idx := g.index()
	kk := g.k * g.k
	for c := 0; c < g.c; c++ {
		xc := x[c*g.h*g.w : (c+1)*g.h*g.w]
		for r := 0; r < kk; r++ {
			row := col[(c*kk+r)*ld:][:g.hw]
			for p, src := range idx[r*g.hw : (r+1)*g.hw] {
				if src < 0 {
					row[p] = 0
				} else {
					row[p] = xc[src]
				}
			}
		}
	}
}

// stride2Tap maps kernel offset k of a 3×3, stride-2, pad-1 convolution to
// the input phase it reads (even or odd rows) and the shift within it.
var stride2Tap = [3]struct{ phase, shift int }{{1, -1}, {0, 0}, {1, 0}}

// im2colStride2 splits each input plane into its four polyphase planes
// (even/odd rows × even/odd columns) at output size; every kernel tap is
// then one of them shifted by 0 or −1: block copies instead of a gather.
func (g convGeom) im2colStride2(x, col []float32, ld int) {
	h2, w2 := g.h/2, g.w/2
	q := h2 * w2
	var buf [4096]float32
	for c := 0; c < g.c; c++ {
		xc := x[c*g.h*g.w : (c+1)*g.h*g.w]
		for i := 0; i < h2; i++ {
			r0, r1 := xc[2*i*g.w:][:g.w], xc[(2*i+1)*g.w:][:g.w]
			p00, p01 := buf[i*w2:][:w2], buf[q+i*w2:][:w2]
			p10, p11 := buf[2*q+i*w2:][:w2], buf[3*q+i*w2:][:w2]
			for j := 0; j < w2; j++ {
				p00[j], p01[j] = r0[2*j], r0[2*j+1]
				p10[j], p11[j] = r1[2*j], r1[2*j+1]
			}
		}
		for ki := 0; ki < 3; ki++ {
			ty := stride2Tap[ki]
			for kj := 0; kj < 3; kj++ {
				tx := stride2Tap[kj]
				plane := buf[(ty.phase*2+tx.phase)*q:][:q]
				shiftCopy(col[((c*3+ki)*3+kj)*ld:][:g.hw], plane, h2, w2, ty.shift, tx.shift)
			}
		}
	}
}

// geomKey identifies a convolution's sampling pattern.
type geomKey struct{ h, w, k, s, p int }

var indexCache sync.Map // geomKey → []int32

// index maps each kernel offset r = ki·k+kj and output pixel p to the input
// pixel it reads, or −1 for padding. Strided convolutions on small maps
// gather through it: one tight loop per kernel offset instead of one short
// loop per output row.
func (g convGeom) index() []int32 {
	key := geomKey{g.h, g.w, g.k, g.s, g.p}
	if v, ok := indexCache.Load(key); ok {
		return v.([]int32)
	}
	idx := make([]int32, g.k*g.k*g.hw)
	for ki := 0; ki < g.k; ki++ {
		for kj := 0; kj < g.k; kj++ {
			for oy := 0; oy < g.ho; oy++ {
				for ox := 0; ox < g.wo; ox++ {
					iy, ix := oy*g.s-g.p+ki, ox*g.s-g.p+kj
					v := int32(-1)
					if iy >= 0 && iy < g.h && ix >= 0 && ix < g.w {
						v = int32(iy*g.w + ix)
					}
					idx[(ki*g.k+kj)*g.hw+oy*g.wo+ox] = v
				}
			}
		}
	}
	indexCache.Store(key, idx)
	return idx
}

// im2colSame is im2col for stride 1 with "same" padding, where each row of
// the column matrix is the whole input plane shifted by (ki−p, kj−p).
func (g convGeom) im2colSame(x, col []float32, ld int) {
	n := g.h * g.w
	for c := 0; c < g.c; c++ {
		xc := x[c*n : (c+1)*n]
		for ki := 0; ki < g.k; ki++ {
			for kj := 0; kj < g.k; kj++ {
				shiftCopy(col[((c*g.k+ki)*g.k+kj)*ld:][:n], xc, g.h, g.w, ki-g.p, kj-g.p)
			}
		}
	}
}

// shiftCopy sets dst[i,j] = src[i+dy, j+dx] on h×w planes, zero where that
// falls outside: one block copy, then the pixels that wrapped in from the
// neighbouring row set to zero.
func shiftCopy(dst, src []float32, h, w, dy, dx int) {
	n := h * w
	y0, y1 := max(0, -dy), min(h, h-dy) // rows with a source row
	off := dy*w + dx
	a, b := max(y0*w, -off), min(y1*w, n-off)
	if a >= b {
		clear(dst[:n])
		return
	}
	clear(dst[:a])
	copy(dst[a:b], src[a+off:b+off])
	clear(dst[b:n])
	if dx < 0 {
		for y := y0; y < y1; y++ {
			clear(dst[y*w : y*w-dx])
		}
	} else if dx > 0 {
		for y := y0; y < y1; y++ {
			clear(dst[y*w+w-dx : y*w+w])
		}
	}
}

// shiftAdd is shiftCopy's adjoint: dst[i+dy, j+dx] += src[i, j] wherever
// that lies inside the plane.
func shiftAdd(dst, src []float32, h, w, dy, dx int) {
	y0, y1 := max(0, -dy), min(h, h-dy)
	j0, j1 := max(0, -dx), min(w, w-dx)
	if j0 >= j1 {
		return
	}
	for y := y0; y < y1; y++ {
		s := src[y*w+j0 : y*w+j1]
		d := dst[(y+dy)*w+j0+dx:][:len(s)]
		for k, v := range s {
			d[k] += v
		}
	}
}

// col2im is im2col's adjoint: it adds each column entry back onto the input
// pixel it was read from. dx must be zeroed by the caller.
func (g convGeom) col2im(col []float32, ld int, dx []float32) {
	idx := g.index()
	kk := g.k * g.k
	for c := 0; c < g.c; c++ {
		xc := dx[c*g.h*g.w : (c+1)*g.h*g.w]
		for r := 0; r < kk; r++ {
			row := col[(c*kk+r)*ld:][:g.hw]
			for p, dst := range idx[r*g.hw : (r+1)*g.hw] {
				if dst >= 0 {
					xc[dst] += row[p]
				}
			}
		}
	}
}
