package gan

// im2col and col2im for square kernels over NCHW data: the layouts that turn
// a convolution into one matrix multiply.

// inside gives the output columns [lo, hi) whose source column, shifted by
// dx, lies inside the image.
func (g convGeom) inside(dx int) (lo, hi int) {
	lo, hi = 0, g.wo
	for lo < g.wo && lo*g.s+dx < 0 {
		lo++
	}
	for hi > lo && (hi-1)*g.s+dx >= g.w {
		hi--
	}
	return lo, hi
}

// im2col lays one sample's receptive fields out as columns of col: row
// (c,ki,kj), column (oy,ox). Rows are ld apart, so all samples of a batch can
// sit side by side in one matrix. Padding reads as zero.
func (g convGeom) im2col(x, col []float32, ld int) {
	if g.s == 1 && g.ho == g.h && g.wo == g.w {
		g.im2colSame(x, col, ld)
		return
	}
	for c := 0; c < g.c; c++ {
		xc := x[c*g.h*g.w : (c+1)*g.h*g.w]
		for ki := 0; ki < g.k; ki++ {
			for kj := 0; kj < g.k; kj++ {
				row := col[((c*g.k+ki)*g.k+kj)*ld:][:g.hw]
				dx := kj - g.p
				lo, hi := g.inside(dx)
				for oy := 0; oy < g.ho; oy++ {
					iy := oy*g.s - g.p + ki
					dst := row[oy*g.wo : (oy+1)*g.wo]
					if iy < 0 || iy >= g.h {
						clear(dst)
						continue
					}
					src := xc[iy*g.w : (iy+1)*g.w]
					for ox := 0; ox < lo; ox++ {
						dst[ox] = 0
					}
					for ox := hi; ox < g.wo; ox++ {
						dst[ox] = 0
					}
					for ox := lo; ox < hi; ox++ {
						dst[ox] = src[ox*g.s+dx]
					}
				}
			}
		}
	}
}

// im2colSame is im2col for stride 1 with "same" padding, where each row of
// the column matrix is the whole input plane shifted by (ki−p, kj−p): one
// block copy per row, then the pixels shifted in from outside set to zero.
func (g convGeom) im2colSame(x, col []float32, ld int) {
	h, w := g.h, g.w
	n := h * w
	for c := 0; c < g.c; c++ {
		xc := x[c*n : (c+1)*n]
		for ki := 0; ki < g.k; ki++ {
			dy := ki - g.p
			y0, y1 := max(0, -dy), min(h, h-dy) // output rows with a source row
			for kj := 0; kj < g.k; kj++ {
				dx := kj - g.p
				row := col[((c*g.k+ki)*g.k+kj)*ld:][:n]
				off := dy*w + dx
				a, b := y0*w, y1*w
				a2, b2 := max(a, -off), min(b, n-off)
				clear(row[:a2])
				copy(row[a2:b2], xc[a2+off:b2+off])
				clear(row[b2:])
				// Columns that wrapped around from the neighbouring row.
				if dx < 0 {
					for y := y0; y < y1; y++ {
						for j := 0; j < -dx; j++ {
							row[y*w+j] = 0
						}
					}
				} else if dx > 0 {
					for y := y0; y < y1; y++ {
						for j := w - dx; j < w; j++ {
							row[y*w+j] = 0
						}
					}
				}
			}
		}
	}
}

// col2im is im2col's adjoint: it adds each column entry back onto the input
// pixel it was read from. dx must be zeroed by the caller.
func (g convGeom) col2im(col []float32, ld int, dx []float32) {
	for c := 0; c < g.c; c++ {
		xc := dx[c*g.h*g.w : (c+1)*g.h*g.w]
		for ki := 0; ki < g.k; ki++ {
			for kj := 0; kj < g.k; kj++ {
				row := col[((c*g.k+ki)*g.k+kj)*ld:][:g.hw]
				d := kj - g.p
				lo, hi := g.inside(d)
				for oy := 0; oy < g.ho; oy++ {
					iy := oy*g.s - g.p + ki
					if iy < 0 || iy >= g.h {
						continue
					}
					src := row[oy*g.wo : (oy+1)*g.wo]
					dst := xc[iy*g.w : (iy+1)*g.w]
					if g.s == 1 {
						dst = dst[lo+d : hi+d]
						for i, v := range src[lo:hi] {
							dst[i] += v
						}
					} else {
						for ox := lo; ox < hi; ox++ {
							dst[ox*g.s+d] += src[ox]
						}
					}
				}
			}
		}
	}
}
