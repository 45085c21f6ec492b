package gan

import (
	"fmt"
	"math"

	"github.com/ganstudio/ganstudio/gan/nn"
	"github.com/ganstudio/ganstudio/gan/spec"
)

// accel trains a Trainer's networks on a device: the same DCGAN step as
// the CPU graphs (compile in trainer.go), written out as kernel launches
// and GEMMs. Batches, latents, losses and the RNG stay on the host, so a
// run on a GPU draws exactly the batches it would on the CPU; the weights,
// their gradients, Adam's moments and every activation live on the device.
// The host copies of the weights are brought up to date only when
// something reads them (Trainer.pull).
//
// Convolutions are im2col (or col2im) plus one GEMM over the whole batch;
// the generator upsamples explicitly before each convolution (the CPU's
// phase trick saves FLOPs a GPU has to spare).
type accel struct {
	dev    device
	cfg    spec.Config
	allocs []uintptr
	err    error // the first failure since the step began

	G, D  devNet
	gRun  map[string][2]uintptr // running mean and variance of G's batch norms
	z     uintptr
	real  uintptr
	neg   uintptr
	gen   genActs
	pass  [3]*discActs // real, fake, disliked
	tmp   uintptr      // a convolution's GEMM output or its gradient, [O][N·P]
	dcol  uintptr      // a convolution's column gradient
	part  uintptr      // batch norm's partial sums (float64 pairs)
	dlog  uintptr      // logits' gradient, uploaded per pass
	model [3]uintptr   // rating model: weights (P), its logits, their gradient
	host  []float32    // logits coming down, gradients going up
	aug   augActs      // augmentation of D's inputs (accel_aug.go), if the run has it
	ema   uintptr      // the generator's average, laid out as G's weights (0: none)

	tmpN, dcolN, partN int  // sizes of the shared buffers
	dry                bool // layout only: alloc checks sizes, allocates nothing
}

// maxKernelN bounds every buffer, and so every kernel's output count: the
// kernels index in 32-bit ints, and a grid-stride loop steps up to 256
// threads × 65535 blocks past the last index before it stops.
const maxKernelN = math.MaxInt32 - 256*65535

// sumSlices is how many strided slices a per-channel sum over m values is
// split into: enough threads to fill a GPU when channels are few and
// planes large, each summing a few hundred values.
func sumSlices(m int) int { return min(max(m/512, 64), 1024) }

// devNet is one network's parameters on the device, in one block each for
// the weights, gradients and Adam's two moments, so Adam is one launch.
type devNet struct {
	w, g, m, v uintptr
	off        map[string]int
	sizes      []int
	total      int
}

func (n *devNet) p(name string) uintptr  { return n.w + uintptr(4*n.at(name)) }
func (n *devNet) gp(name string) uintptr { return n.g + uintptr(4*n.at(name)) }
func (n *devNet) at(name string) int {
	o, ok := n.off[name]
	if !ok {
		panic("gan: no device parameter " + name) // a bug here, not in input
	}
	return o
}

// bnAct is one batch-norm layer's input, output and batch statistics.
type bnAct struct {
	n, c, p                          int
	x, y                             uintptr
	mean, invstd, scale, shift, sums uintptr
}

// convAct is one convolution's geometry and its columns (kept for dW).
type convAct struct {
	n, c, h, w, o, k, s, pad, ho, wo int
	col                              uintptr
}

func (c *convAct) np() int  { return c.n * c.ho * c.wo }
func (c *convAct) ckk() int { return c.c * c.k * c.k }

// genActs are the generator's activations and their gradients.
type genActs struct {
	h0, dh0    uintptr
	bn         []*bnAct   // bn0 … bnL
	up, dup    []uintptr  // upsampled inputs of stage i (index i-1) and gradients
	conv       []*convAct // stage convolutions, then the output convolution
	da, dc     []uintptr  // gradients of each bn's output and input
	out, img   uintptr    // output convolution before and after tanh
	dimg, dout uintptr
}

// mbstdAct is minibatch stddev's features (the last map with the batch's
// spread appended), their gradient, and its statistics: per feature mean
// and deviation, s, and s's gradient (float64s take two floats).
type mbstdAct struct {
	cp, e               int
	f, df, mu, sd, s, g uintptr
}

// discActs are one discriminator pass's activations and gradients.
type discActs struct {
	n            int
	conv         []*convAct
	y, a, dy, da []uintptr // conv outputs, activations, their gradients
	bn           []*bnAct  // nil for layer 0 (bias + leaky ReLU)
	mb           *mbstdAct // nil without minibatch stddev
	logits       uintptr
	host         []float32
}

func newAccel(dev device, cfg spec.Config, g, d, ema *Net) (*accel, error) {
	// Lay the buffers out once without memory, so a configuration past
	// the kernels' limits is refused before anything is allocated.
	dry := &accel{cfg: cfg, dry: true}
	dry.layout(g, d, ema != nil)
	if dry.err != nil {
		return nil, fmt.Errorf("%s: %w", dev.Name(), dry.err)
	}
	a := &accel{dev: dev, cfg: cfg}
	err := dev.Do(func() error {
		a.layout(g, d, ema != nil)
		return a.err
	})
	if err != nil {
		a.close()
		return nil, markLost(dev, fmt.Errorf("%s: %w", dev.Name(), err))
	}
	return a, nil
}

// layout allocates every buffer a step needs but the feedback parts';
// withEMA adds the generator's average.
func (a *accel) layout(g, d *Net, withEMA bool) {
	cfg := a.cfg
	a.gRun = map[string][2]uintptr{}
	a.G = a.net(g)
	a.D = a.net(d)
	if withEMA {
		a.ema = a.alloc(a.G.total)
	}
	for name, r := range g.Running {
		a.gRun[name] = [2]uintptr{a.alloc(len(r.Mean)), a.alloc(len(r.Var))}
	}
	n, per := cfg.Batch, 3*cfg.Res*cfg.Res
	a.z = a.alloc(n * cfg.ZDim)
	a.real = a.alloc(n * per)
	a.genAlloc()
	a.pass[0] = a.discAlloc(n)
	a.pass[1] = a.discAlloc(n)
	if cfg.Augment.On() {
		a.augAlloc(n)
	}
	// The disliked batch is smaller than these, so the shared buffers
	// sized now fit it too.
	a.partSize(n, 1, 1) // D's linear bias
	a.tmp, a.dcol, a.part = a.alloc(a.tmpN), a.alloc(a.dcolN), a.alloc(a.partN)
	a.dlog = a.alloc(max(n, negBatch(n)))
	a.host = make([]float32, max(n, negBatch(n)))
}

// alloc records the first failure and returns 0 after it, so the layout
// code reads straight through; the caller checks a.err once.
func (a *accel) alloc(n int) uintptr {
	if a.err != nil {
		return 0
	}
	if n > maxKernelN {
		a.err = fmt.Errorf("a buffer of %d values is past what the kernels index (%d): use a smaller batch or model size", n, maxKernelN)
		return 0
	}
	if a.dry {
		return 1
	}
	p, err := a.dev.Alloc(n)
	if err != nil {
		a.err = fmt.Errorf("allocate %d MB: %w", 4*n>>20, err)
		return 0
	}
	a.allocs = append(a.allocs, p)
	return p
}

func (a *accel) net(n *Net) devNet {
	dn := devNet{off: map[string]int{}}
	for i, p := range n.Params {
		dn.off[n.Names[i]] = dn.total
		dn.sizes = append(dn.sizes, p.DataSize())
		dn.total += p.DataSize()
	}
	dn.w, dn.g, dn.m, dn.v = a.alloc(dn.total), a.alloc(dn.total), a.alloc(dn.total), a.alloc(dn.total)
	return dn
}

func (a *accel) bnAlloc(n, c, p int, x, y uintptr) *bnAct {
	a.partSize(n, c, p)
	return &bnAct{n: n, c: c, p: p, x: x, y: y,
		mean: a.alloc(c), invstd: a.alloc(c), scale: a.alloc(c), shift: a.alloc(c), sums: a.alloc(2 * c)}
}

func (a *accel) convAlloc(n, c, h, o, s int) *convAct {
	ho := (h+2-3)/s + 1
	l := &convAct{n: n, c: c, h: h, w: h, o: o, k: 3, s: s, pad: 1, ho: ho, wo: ho}
	l.col = a.alloc(l.ckk() * l.np())
	a.scratch(l)
	return l
}

// scratch grows the shared GEMM buffers' sizes to fit convolution l; they
// are allocated once every layer is known (newAccel).
func (a *accel) scratch(l *convAct) {
	a.tmpN = max(a.tmpN, l.o*l.np())
	a.dcolN = max(a.dcolN, l.ckk()*l.np())
	a.partSize(l.n, l.o, l.ho*l.wo) // its bias's gradient, if it has a bias
}

// partSize grows the partial sums' buffer to fit a per-channel sum over
// n×c planes of p values: two float64s (four floats) per slice.
func (a *accel) partSize(n, c, p int) {
	a.partN = max(a.partN, 4*c*sumSlices(n*p))
}

func (a *accel) genAlloc() {
	c, n := a.cfg, a.cfg.Batch
	ch := genChannels(c)
	g := &a.gen
	g.h0, g.dh0 = a.alloc(n*ch[0]*16), a.alloc(n*ch[0]*16)
	g.bn = append(g.bn, a.bnAlloc(n, ch[0], 16, g.h0, a.alloc(n*ch[0]*16)))
	g.dc = append(g.dc, g.dh0)
	side := 4
	for i := 1; i < len(ch); i++ {
		side *= 2
		in := n * ch[i-1] * side * side
		g.up, g.dup = append(g.up, a.alloc(in)), append(g.dup, a.alloc(in))
		g.conv = append(g.conv, a.convAlloc(n, ch[i-1], side, ch[i], 1))
		size := n * ch[i] * side * side
		x := a.alloc(size)
		g.bn = append(g.bn, a.bnAlloc(n, ch[i], side*side, x, a.alloc(size)))
		g.dc = append(g.dc, a.alloc(size))
	}
	for _, b := range g.bn {
		g.da = append(g.da, a.alloc(b.n*b.c*b.p))
	}
	g.conv = append(g.conv, a.convAlloc(n, ch[len(ch)-1], c.Res, 3, 1))
	per := n * 3 * c.Res * c.Res
	g.out, g.img, g.dimg, g.dout = a.alloc(per), a.alloc(per), a.alloc(per), a.alloc(per)
}

func (a *accel) discAlloc(n int) *discActs {
	ch := discChannels(a.cfg)
	p := &discActs{n: n, host: make([]float32, n)}
	in, side := 3, a.cfg.Res
	for i, o := range ch {
		l := a.convAlloc(n, in, side, o, 2)
		size := n * o * l.ho * l.wo
		p.conv = append(p.conv, l)
		y, act := a.alloc(size), a.alloc(size)
		p.y, p.a = append(p.y, y), append(p.a, act)
		p.dy, p.da = append(p.dy, a.alloc(size)), append(p.da, a.alloc(size))
		var b *bnAct
		if i > 0 {
			b = a.bnAlloc(n, o, l.ho*l.wo, y, act)
		}
		p.bn = append(p.bn, b)
		in, side = o, l.ho
	}
	if a.cfg.MBStd {
		cp, e := in*side*side, side*side
		feat := a.discFeatures()
		p.mb = &mbstdAct{cp: cp, e: e, f: a.alloc(n * feat), df: a.alloc(n * feat),
			mu: a.alloc(2 * cp), sd: a.alloc(2 * cp), s: a.alloc(1), g: a.alloc(2)}
	}
	p.logits = a.alloc(n)
	return p
}

// launch runs a kernel over n outputs, unless an earlier call failed.
func (a *accel) launch(name string, n int, args ...uint64) {
	if a.err == nil && n > maxKernelN {
		a.err = fmt.Errorf("kernel %s over %d outputs: past the kernels' 32-bit indices", name, n)
	}
	if a.err == nil && n > 0 {
		if err := a.dev.Launch(name, n, args...); err != nil {
			a.err = err
		}
	}
}

// mm is the row-major C[m×n] = op(A)·op(B) + β·C. A column-major GEMM of
// the transposes computes it: a row-major matrix is its transpose in
// column-major order, and Cᵀ = op(B)ᵀ·op(A)ᵀ.
func (a *accel) mm(tA, tB bool, m, n, k int, A uintptr, lda int, B uintptr, ldb int, beta float32, C uintptr, ldc int) {
	if a.err == nil {
		if err := a.dev.Sgemm(tB, tA, n, m, k, 1, B, ldb, A, lda, beta, C, ldc); err != nil {
			a.err = fmt.Errorf("gemm %d×%d×%d: %w", m, n, k, err)
		}
	}
}

func (a *accel) up(dst uintptr, src []float32) {
	if a.err == nil {
		a.err = a.dev.Upload(dst, src)
	}
}

func (a *accel) down(dst []float32, src uintptr) {
	if a.err == nil {
		a.err = a.dev.Download(dst, src)
	}
}

func (a *accel) fill(p uintptr, n int, v float32) {
	a.launch("fill", n, ai(n), ap(p), af(v))
}

// ai, af and ap pack kernel arguments into 64-bit slots (as package
// kernels' Int, Float and Ptr do; gan does not import it, so the CPU
// binary links no emulator).
func ai(v int) uint64               { return uint64(uint32(int32(v))) }
func af(v float32) uint64           { return uint64(math.Float32bits(v)) }
func ap(p uintptr) uint64           { return uint64(p) }
func fptr(p uintptr, i int) uintptr { return p + uintptr(4*i) }

// conv computes y = conv(x, w) for layer l: columns, one GEMM, then the
// GEMM's [O][N·P] order back to NCHW.
func (a *accel) conv(l *convAct, x, w, y uintptr) {
	geom := []uint64{ai(l.n), ai(l.c), ai(l.h), ai(l.w), ai(l.k), ai(l.s), ai(l.pad), ai(l.ho), ai(l.wo)}
	a.launch("im2col", l.ckk()*l.np(), append(geom, ap(x), ap(l.col))...)
	a.mm(false, false, l.o, l.np(), l.ckk(), w, l.ckk(), l.col, l.np(), 0, a.tmp, l.np())
	a.launch("cn_to_nc", l.o*l.np(), ai(l.n), ai(l.o), ai(l.ho*l.wo), ap(a.tmp), ap(y))
}

// convBack adds dL/dw into dw (if dw ≠ 0) and writes dL/dx into dx (if dx ≠ 0).
func (a *accel) convBack(l *convAct, w, dy, dw, dx uintptr) {
	a.launch("nc_to_cn", l.o*l.np(), ai(l.n), ai(l.o), ai(l.ho*l.wo), ap(dy), ap(a.tmp))
	if dw != 0 {
		a.mm(false, true, l.o, l.ckk(), l.np(), a.tmp, l.np(), l.col, l.np(), 1, dw, l.ckk())
	}
	if dx != 0 {
		a.mm(true, false, l.ckk(), l.np(), l.o, w, l.ckk(), a.tmp, l.np(), 0, a.dcol, l.np())
		geom := []uint64{ai(l.n), ai(l.c), ai(l.h), ai(l.w), ai(l.k), ai(l.s), ai(l.pad), ai(l.ho), ai(l.wo)}
		a.launch("col2im", l.n*l.c*l.h*l.w, append(geom, ap(a.dcol), ap(dx))...)
	}
}

// biasGrad adds each channel's sum of dy (n×c planes of p values) into db.
func (a *accel) biasGrad(n, c, p int, dy, db uintptr) {
	s := sumSlices(n * p)
	a.launch("sum_partial", c*s, ai(n), ai(c), ai(p), ai(s), ap(dy), ap(a.part))
	a.launch("sum_finish", c, ai(c), ai(s), ap(a.part), ap(db))
}

// bnForward normalises b.x into b.y with the batch's statistics, then the
// rectifier; run (if not nil) receives the statistics folded in.
func (a *accel) bnForward(b *bnAct, gamma, beta uintptr, run *[2]uintptr, slope float32) {
	var rm, rv uintptr
	update := 0
	if run != nil {
		rm, rv, update = run[0], run[1], 1
	}
	s := sumSlices(b.n * b.p)
	a.launch("bn_partial", b.c*s, ai(b.n), ai(b.c), ai(b.p), ai(s), ap(b.x), ap(a.part))
	a.launch("bn_stats", b.c, ai(b.n), ai(b.c), ai(b.p), ai(s), ap(b.x), ap(a.part), ap(gamma), ap(beta),
		ap(b.mean), ap(b.invstd), ap(b.scale), ap(b.shift), ap(rm), ap(rv), af(0.1), ai(update))
	a.launch("bn_apply", b.n*b.c*b.p, ai(b.n), ai(b.c), ai(b.p), ap(b.x), ap(b.y), ap(b.scale), ap(b.shift), af(slope))
}

// bnBackward writes dL/dx from dy = dL/dy; with dgamma ≠ 0 it adds the
// parameters' gradients too.
func (a *accel) bnBackward(b *bnAct, gamma, dy, dx, dgamma, dbeta uintptr, slope float32) {
	accum := 0
	if dgamma != 0 {
		accum = 1
	}
	s := sumSlices(b.n * b.p)
	a.launch("bn_bwd_partial", b.c*s, ai(b.n), ai(b.c), ai(b.p), ai(s), ap(b.x), ap(b.y), ap(dy), ap(b.mean), af(slope), ap(a.part))
	a.launch("bn_bwd_stats", b.c, ai(b.c), ai(s), ap(a.part), ap(b.invstd), ap(b.sums), ap(dgamma), ap(dbeta), ai(accum))
	a.launch("bn_bwd_dx", b.n*b.c*b.p, ai(b.n), ai(b.c), ai(b.p), ap(b.x), ap(b.y), ap(dy), ap(b.mean), ap(b.invstd), ap(gamma),
		ap(b.sums), af(slope), ap(dx))
}

// genForward computes G(z) in training mode (batch statistics) and folds
// the statistics into the running ones, once per step as the CPU does.
func (a *accel) genForward() {
	c, g, G := a.cfg, &a.gen, &a.G
	ch := genChannels(c)
	n := c.Batch
	a.mm(false, false, n, ch[0]*16, c.ZDim, a.z, c.ZDim, G.p("lin.w"), ch[0]*16, 0, g.h0, ch[0]*16)
	a.bnLayer(0)
	side := 4
	for i := 1; i < len(ch); i++ {
		prev := g.bn[i-1]
		a.launch("up2", n*ch[i-1]*4*side*side, ai(n), ai(ch[i-1]), ai(side), ai(side), ap(prev.y), ap(g.up[i-1]))
		side *= 2
		a.conv(g.conv[i-1], g.up[i-1], G.p(fmt.Sprintf("conv%d.w", i)), g.bn[i].x)
		a.bnLayer(i)
	}
	last := g.conv[len(g.conv)-1]
	a.conv(last, g.bn[len(g.bn)-1].y, G.p("out.w"), g.out)
	per := n * 3 * c.Res * c.Res
	a.launch("add_bias", per, ai(n), ai(3), ai(c.Res*c.Res), ap(g.out), ap(G.p("out.b")))
	a.launch("tanh_fwd", per, ai(per), ap(g.out), ap(g.img))
}

func (a *accel) bnLayer(i int) {
	name := fmt.Sprintf("bn%d", i)
	run := a.gRun[name]
	a.bnForward(a.gen.bn[i], a.G.p(name+".gamma"), a.G.p(name+".beta"), &run, 0)
}

// genBackward adds G's parameter gradients from dL/dG(z) in gen.dimg.
func (a *accel) genBackward() {
	c, g, G := a.cfg, &a.gen, &a.G
	ch := genChannels(c)
	n := c.Batch
	per := n * 3 * c.Res * c.Res
	a.launch("tanh_bwd", per, ai(per), ap(g.img), ap(g.dimg), ap(g.dout))
	a.biasGrad(n, 3, c.Res*c.Res, g.dout, G.gp("out.b"))
	L := len(ch) - 1
	a.convBack(g.conv[L], G.p("out.w"), g.dout, G.gp("out.w"), g.da[L])
	for i := L; i >= 0; i-- {
		name := fmt.Sprintf("bn%d", i)
		a.bnBackward(g.bn[i], G.p(name+".gamma"), g.da[i], g.dc[i], G.gp(name+".gamma"), G.gp(name+".beta"), 0)
		if i == 0 {
			break
		}
		w := fmt.Sprintf("conv%d.w", i)
		a.convBack(g.conv[i-1], G.p(w), g.dc[i], G.gp(w), g.dup[i-1])
		side := 4 << (i - 1)
		a.launch("up2_bwd", n*ch[i-1]*side*side, ai(n), ai(ch[i-1]), ai(side), ai(side), ap(g.dup[i-1]), ap(g.da[i-1]))
	}
	a.mm(true, false, c.ZDim, ch[0]*16, n, a.z, c.ZDim, g.dh0, ch[0]*16, 1, G.gp("lin.w"), ch[0]*16)
}

// discForward computes D's logits on x (n images) into p.host.
func (a *accel) discForward(p *discActs, x uintptr) []float32 {
	D := &a.D
	for i, l := range p.conv {
		a.conv(l, x, D.p(fmt.Sprintf("conv%d.w", i)), p.y[i])
		size := l.n * l.o * l.ho * l.wo
		if i == 0 {
			a.launch("add_bias", size, ai(l.n), ai(l.o), ai(l.ho*l.wo), ap(p.y[0]), ap(D.p("conv0.b")))
			a.launch("leaky", size, ai(size), ap(p.y[0]), ap(p.a[0]), af(0.2))
		} else {
			name := fmt.Sprintf("bn%d", i)
			a.bnForward(p.bn[i], D.p(name+".gamma"), D.p(name+".beta"), nil, 0.2)
		}
		x = p.a[i]
	}
	if m := p.mb; m != nil {
		a.launch("mbstd_stats", m.cp, ai(p.n), ai(m.cp), ap(x), ap(m.mu), ap(m.sd))
		a.launch("mbstd_mean", 1, ai(m.cp), ap(m.sd), ap(m.s))
		a.launch("mbstd_concat", p.n*(m.cp+m.e), ai(p.n), ai(m.cp), ai(m.e), ap(x), ap(m.s), ap(m.f))
		x = m.f
	}
	feat := a.discFeatures()
	a.mm(false, false, p.n, 1, feat, x, feat, D.p("lin.w"), 1, 0, p.logits, 1)
	a.launch("add_bias", p.n, ai(p.n), ai(1), ai(1), ap(p.logits), ap(D.p("lin.b")))
	a.down(p.host, p.logits)
	return p.host
}

func (a *accel) discFeatures() int { return discFeatures(a.cfg) }

// discBackward passes dlogits back through D: with params it adds D's
// parameter gradients, with dx ≠ 0 it writes the gradient of the input.
func (a *accel) discBackward(p *discActs, dlogits []float32, params bool, dx uintptr) {
	D := &a.D
	grad := func(name string) uintptr {
		if params {
			return D.gp(name)
		}
		return 0
	}
	a.up(a.dlog, dlogits)
	L := len(p.conv) - 1
	feat := a.discFeatures()
	f, df := p.a[L], p.da[L]
	if p.mb != nil {
		f, df = p.mb.f, p.mb.df
	}
	if params {
		a.mm(true, false, feat, 1, p.n, f, feat, a.dlog, 1, 1, D.gp("lin.w"), 1)
		a.biasGrad(p.n, 1, 1, a.dlog, D.gp("lin.b"))
	}
	a.mm(false, true, p.n, feat, 1, a.dlog, 1, D.p("lin.w"), 1, 0, df, feat)
	if m := p.mb; m != nil {
		a.launch("mbstd_gsum", 1, ai(p.n), ai(m.cp), ai(m.e), ap(m.df), ap(m.g))
		a.launch("mbstd_bwd", p.n*m.cp, ai(p.n), ai(m.cp), ai(m.e), ap(p.a[L]), ap(m.mu), ap(m.sd), ap(m.g),
			ap(m.df), ap(p.da[L]))
	}
	for i := L; i >= 0; i-- {
		l := p.conv[i]
		size := l.n * l.o * l.ho * l.wo
		if i == 0 {
			a.launch("leaky_bwd", size, ai(size), ap(p.a[0]), ap(p.da[0]), ap(p.dy[0]), af(0.2))
			if params {
				a.biasGrad(l.n, l.o, l.ho*l.wo, p.dy[0], D.gp("conv0.b"))
			}
		} else {
			name := fmt.Sprintf("bn%d", i)
			a.bnBackward(p.bn[i], D.p(name+".gamma"), p.da[i], p.dy[i], grad(name+".gamma"), grad(name+".beta"), 0.2)
		}
		in := dx
		if i > 0 {
			in = p.da[i-1]
		}
		a.convBack(l, D.p(fmt.Sprintf("conv%d.w", i)), p.dy[i], grad(fmt.Sprintf("conv%d.w", i)), in)
	}
}

// adamStep applies one Adam update to a whole network; the host optimiser
// keeps the step count and learning rate (Remedy changes it), the device
// the moments.
func (a *accel) adamStep(n *devNet, o *nn.Adam) {
	if a.err != nil {
		return // the host's step count must stay with the device's moments
	}
	o.T++
	bc1 := 1 - math.Pow(o.Beta1, float64(o.T))
	bc2 := 1 - math.Pow(o.Beta2, float64(o.T))
	a.launch("adam", n.total, ai(n.total), ap(n.w), ap(n.g), ap(n.m), ap(n.v), af(float32(o.Beta1)), af(float32(o.Beta2)),
		af(float32(o.LR/bc1)), af(float32(math.Sqrt(bc2))), af(float32(o.Eps)))
}

// transfer copies a network, its running statistics and its optimiser's
// moments between host and device, in either direction.
func (a *accel) transfer(toDevice bool, n *Net, dn *devNet, o *nn.Adam) {
	off := 0
	for i, p := range n.Params {
		a.move(toDevice, nn.F32(p), fptr(dn.w, off))
		a.move(toDevice, o.M[i], fptr(dn.m, off))
		a.move(toDevice, o.V[i], fptr(dn.v, off))
		off += dn.sizes[i]
	}
	for name, r := range n.Running {
		a.move(toDevice, r.Mean, a.gRun[name][0])
		a.move(toDevice, r.Var, a.gRun[name][1])
	}
}

// move copies host to dev, or dev to host.
func (a *accel) move(toDevice bool, host []float32, dev uintptr) {
	if toDevice {
		a.up(dev, host)
	} else {
		a.down(host, dev)
	}
}

// close frees every allocation.
func (a *accel) close() {
	a.dev.Do(func() error {
		for _, p := range a.allocs {
			a.dev.Free(p)
		}
		return nil
	})
	a.allocs = nil
}

// sigmoid is σ(x) in float64, stable for any x.
func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// dLossTerm is D's loss Σ wᵢ·ℓ(xᵢ) on logits x of real or generated
// images, ℓ the run's loss (softplus(∓x), or relu(1 ∓ x) for the hinge),
// with its gradient in g: the host half of nn.DTerm.
func dLossTerm(kind string, x []float32, real bool, w func(i int) float64, g []float32) float64 {
	sign := 1.0
	if real {
		sign = -1
	}
	if kind != spec.LossHinge {
		return lossTerm(x, sign, w, g)
	}
	var s float64
	for i, v := range x {
		g[i] = 0
		if u := 1 + sign*float64(v); u > 0 {
			s += w(i) * u
			g[i] = float32(w(i) * sign)
		}
	}
	return s
}

// gLossTerm is G's loss on D's logits x of its images, Σ wᵢ·softplus(−xᵢ)
// or, for the hinge, Σ −wᵢ·xᵢ, with its gradient in g.
func gLossTerm(kind string, x []float32, w func(i int) float64, g []float32) float64 {
	if kind != spec.LossHinge {
		return lossTerm(x, -1, w, g)
	}
	var s float64
	for i, v := range x {
		s -= w(i) * float64(v)
		g[i] = float32(-w(i))
	}
	return s
}

// lossTerm is Σ wᵢ·softplus(sign·xᵢ) and its gradient wᵢ·sign·σ(sign·xᵢ) in g.
func lossTerm(x []float32, sign float64, w func(i int) float64, g []float32) float64 {
	var s float64
	for i, v := range x {
		u := sign * float64(v)
		s += w(i) * softplus64(u)
		g[i] = float32(w(i) * sign * sigmoid(u))
	}
	return s
}

// step is one TrainStep on the device: real and z are the batch and
// latents the host drew; the feedback inputs are read from t as filled
// by fillFeedback.
func (a *accel) step(t *Trainer, real, z []float32) (spec.Stats, error) {
	st := spec.Stats{AugP: t.aug.ada.P}
	c := a.cfg
	n := c.Batch
	mean := func(int) float64 { return 1 / float64(n) }
	var wn, wm float64
	if t.fbGraphs {
		wn, wm = t.fb.negWeight(), t.fb.modelWeight()
	}
	err := a.dev.Do(func() error {
		a.err = nil
		// Kept only if every allocation succeeded: a later step must not
		// find a pass with null buffers.
		if wn > 0 && a.pass[2] == nil {
			nn := negBatch(n)
			neg, pass := a.alloc(nn*3*c.Res*c.Res), a.discAlloc(nn)
			var seen uintptr // its augmented copy
			if c.Augment.On() {
				seen = a.alloc(nn * 3 * c.Res * c.Res)
			}
			if a.err != nil {
				return a.err
			}
			a.neg, a.pass[2], a.aug.img[augNeg] = neg, pass, seen
		}
		if wm > 0 && a.model[0] == 0 {
			model := [3]uintptr{a.alloc(3 * c.Res * c.Res), a.alloc(n), a.alloc(n)}
			if a.err != nil {
				return a.err
			}
			a.model = model
		}
		a.up(a.real, real)
		a.up(a.z, z)
		a.genForward()

		// D step: softplus(−D(x)) + softplus(D(G(z))) [+ wn·softplus(D(disliked))],
		// (relu(1 ∓ ·) for the hinge), every batch augmented with its own
		// transforms where the run augments.
		a.fill(a.D.g, a.D.total, 0)
		lr := a.discForward(a.pass[0], a.augment(augReal, t.aug.real, a.real, n))
		lf := a.discForward(a.pass[1], a.augment(augFake, t.aug.fake, a.gen.img, n))
		if a.err != nil {
			return a.err
		}
		g := a.host[:n]
		st.LossD = dLossTerm(c.Loss, lr, true, mean, g)
		st.DReal = meanSigmoid(lr)
		t.observeReal(lr)
		st.RT = t.aug.ada.RT
		a.discBackward(a.pass[0], g, true, 0)
		st.LossD += dLossTerm(c.Loss, lf, false, mean, g)
		st.DFake = meanSigmoid(lf)
		t.dFakeSpread = spread(lf)
		a.discBackward(a.pass[1], g, true, 0)
		if wn > 0 {
			p := a.pass[2]
			a.up(a.neg, nn.F32(t.neg))
			ln := a.discForward(p, a.augment(augNeg, t.aug.neg, a.neg, p.n))
			if a.err != nil {
				return a.err
			}
			nw := nn.F32(t.negW)
			st.LossD += dLossTerm(c.Loss, ln, false, func(i int) float64 { return float64(nw[i]) }, a.host[:p.n])
			a.discBackward(p, a.host[:p.n], true, 0)
		}
		a.adamStep(&a.D, t.optD)

		// G step: softplus(−D(T(G(z)))) (−D(T(G(z))) for the hinge) through the updated D, T the
		// augmentation if any [+ wm·softplus(−r(G(z))), on the fakes as made].
		lf = a.discForward(a.pass[1], a.augment(augGen, t.aug.gen, a.gen.img, n))
		if a.err != nil {
			return a.err
		}
		st.LossG = gLossTerm(c.Loss, lf, mean, g)
		if c.Augment.On() {
			a.discBackward(a.pass[1], g, false, a.aug.dimg)
			a.augBackward(augGen, a.aug.dimg, a.gen.dimg, n)
		} else {
			a.discBackward(a.pass[1], g, false, a.gen.dimg)
		}
		if wm > 0 {
			per := 3 * c.Res * c.Res
			vec, r, dr := a.model[0], a.model[1], a.model[2]
			a.up(vec, nn.F32(t.modelVec))
			a.mm(false, false, n, 1, per, a.gen.img, per, vec, 1, 0, r, 1)
			a.down(g, r)
			if a.err != nil {
				return a.err
			}
			b, mw := nn.F32(t.modelB), nn.F32(t.modelW)
			for i := range g {
				g[i] += b[i]
			}
			st.LossG += lossTerm(g, -1, func(i int) float64 { return float64(mw[i]) }, g)
			a.up(dr, g)
			a.mm(false, true, n, per, 1, dr, 1, vec, 1, 1, a.gen.dimg, per)
		}
		a.fill(a.G.g, a.G.total, 0)
		a.genBackward()
		a.adamStep(&a.G, t.optG)
		a.emaStep(t.step)
		return a.err
	})
	return st, err
}
