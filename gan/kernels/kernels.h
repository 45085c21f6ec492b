// GAN Studio's training kernels: one source for two compilers.
//
// nvcc turns this file (through kernels.cu) into kernels.ptx (make ptx), which the CUDA worker
// loads with the driver API. The host emulator (emu.c) includes the same
// file as plain C, so the tests run these exact kernels on the CPU and
// compare the GPU code path with the CPU engine without a GPU.
//
// Every kernel is a loop over independent outputs (FOR_EACH): no shared
// memory, no atomics, no barriers, so a sequential loop computes exactly
// what the GPU's grid does. Reductions are split in two such loops
// (partial sums over strided slices, then one thread per channel).
//
// Layouts are NCHW; a convolution's columns are col[(c·k+ki)·k+kj][(n·Ho+ho)·Wo+wo].

#ifdef __CUDACC__
#define KERNEL extern "C" __global__ void
#define FOR_EACH(i, n) for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += blockDim.x * gridDim.x)
#else
#include <math.h>
#define KERNEL static void
#define FOR_EACH(i, n) for (int i = 0; i < (n); i++)
#endif

// fill sets x[0:n] to v.
KERNEL fill(int n, float *x, float v) {
	FOR_EACH(i, n) x[i] = v;
}

// im2col lays out a batch's receptive fields as columns, zero outside the image.
KERNEL im2col(int N, int C, int H, int W, int k, int s, int p, int Ho, int Wo, const float *x, float *col) {
	int np = N * Ho * Wo;
	int total = C * k * k * np;
	FOR_EACH(i, total) {
		int q = i % np, r = i / np;
		int kj = r % k, ki = (r / k) % k, c = r / (k * k);
		int wo = q % Wo, ho = (q / Wo) % Ho, n = q / (Wo * Ho);
		int h = ho * s - p + ki, w = wo * s - p + kj;
		col[i] = (h >= 0 && h < H && w >= 0 && w < W) ? x[((n * C + c) * H + h) * W + w] : 0.0f;
	}
}

// col2im is im2col's adjoint: each input pixel gathers the column entries it
// fed (a gather, so no two threads write one place). dx is overwritten.
KERNEL col2im(int N, int C, int H, int W, int k, int s, int p, int Ho, int Wo, const float *col, float *dx) {
	int np = N * Ho * Wo;
	int total = N * C * H * W;
	FOR_EACH(i, total) {
		int w = i % W, h = (i / W) % H, c = (i / (W * H)) % C, n = i / (W * H * C);
		float acc = 0.0f;
		for (int ki = 0; ki < k; ki++) {
			int hh = h + p - ki;
			if (hh < 0 || hh % s != 0 || hh / s >= Ho)
				continue;
			for (int kj = 0; kj < k; kj++) {
				int ww = w + p - kj;
				if (ww < 0 || ww % s != 0 || ww / s >= Wo)
					continue;
				acc += col[((c * k + ki) * k + kj) * np + (n * Ho + hh / s) * Wo + ww / s];
			}
		}
		dx[i] = acc;
	}
}

// cn_to_nc turns a GEMM's [C][N·P] output into NCHW [N][C][P].
KERNEL cn_to_nc(int N, int C, int P, const float *src, float *dst) {
	int total = N * C * P;
	FOR_EACH(i, total) {
		int p = i % P, c = (i / P) % C, n = i / (P * C);
		dst[i] = src[(c * N + n) * P + p];
	}
}

// nc_to_cn is the reverse: NCHW [N][C][P] to [C][N·P].
KERNEL nc_to_cn(int N, int C, int P, const float *src, float *dst) {
	int total = N * C * P;
	FOR_EACH(i, total) {
		int q = i % (N * P), c = i / (N * P);
		dst[i] = src[((q / P) * C + c) * P + q % P];
	}
}

// add_bias adds b[c] to every value of channel c, in place.
KERNEL add_bias(int N, int C, int P, float *x, const float *b) {
	int total = N * C * P;
	FOR_EACH(i, total) x[i] += b[(i / P) % C];
}

// sum_partial: slice s of channel c sums dy over every S-th value (a bias's
// gradient, in two passes as batch norm's sums are).
KERNEL sum_partial(int N, int C, int P, int S, const float *dy, double *part) {
	int m = N * P;
	FOR_EACH(t, C * S) {
		int c = t / S, s = t % S;
		double a = 0;
		for (int j = s; j < m; j += S)
			a += dy[((j / P) * C + c) * P + j % P];
		part[t] = a;
	}
}

// sum_finish adds each channel's slices into db.
KERNEL sum_finish(int C, int S, const double *part, float *db) {
	FOR_EACH(c, C) {
		double a = 0;
		for (int s = 0; s < S; s++)
			a += part[c * S + s];
		db[c] += (float)a;
	}
}

// leaky is a leaky rectifier (slope 0: ReLU).
KERNEL leaky(int n, const float *x, float *y, float slope) {
	FOR_EACH(i, n) {
		float v = x[i];
		y[i] = v <= 0.0f ? v * slope : v;
	}
}

// leaky_bwd passes dy back through the rectifier; y > 0 exactly where its input was.
KERNEL leaky_bwd(int n, const float *y, const float *dy, float *dx, float slope) {
	FOR_EACH(i, n) dx[i] = y[i] <= 0.0f ? dy[i] * slope : dy[i];
}

KERNEL tanh_fwd(int n, const float *x, float *y) {
	FOR_EACH(i, n) y[i] = tanhf(x[i]);
}

KERNEL tanh_bwd(int n, const float *y, const float *dy, float *dx) {
	FOR_EACH(i, n) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}

// up2 is nearest-neighbour upsampling ×2.
KERNEL up2(int N, int C, int H, int W, const float *x, float *y) {
	int total = N * C * 4 * H * W;
	FOR_EACH(i, total) {
		int j = i % (2 * W), r = (i / (2 * W)) % (2 * H), nc = i / (4 * H * W);
		y[i] = x[(nc * H + r / 2) * W + j / 2];
	}
}

// up2_bwd sums each 2×2 block of dy into the pixel it was copied from.
KERNEL up2_bwd(int N, int C, int H, int W, const float *dy, float *dx) {
	int total = N * C * H * W;
	FOR_EACH(i, total) {
		int w = i % W, h = (i / W) % H, nc = i / (W * H);
		const float *r = dy + (nc * 2 * H + 2 * h) * 2 * W + 2 * w;
		dx[i] = r[0] + r[1] + r[2 * W] + r[2 * W + 1];
	}
}

// bn_partial: slice s of channel c sums d and d² (d = x − the channel's
// first value, which keeps E[d²]−E[d]² from cancelling) over every S-th
// value, so neighbouring threads read neighbouring values.
KERNEL bn_partial(int N, int C, int P, int S, const float *x, double *part) {
	int m = N * P;
	FOR_EACH(t, C * S) {
		int c = t / S, s = t % S;
		float shift = x[c * P];
		double a = 0, b = 0;
		for (int j = s; j < m; j += S) {
			double d = (double)(x[((j / P) * C + c) * P + j % P] - shift);
			a += d;
			b += d * d;
		}
		part[2 * t] = a;
		part[2 * t + 1] = b;
	}
}

// bn_stats finishes the batch statistics of each channel and the affine
// map they give (y = x·scale + shift); with update it folds them into the
// running statistics with the unbiased variance, as PyTorch does.
KERNEL bn_stats(int N, int C, int P, int S, const float *x, const double *part, const float *gamma, const float *beta,
		float *mean, float *invstd, float *scale, float *shift, float *rmean, float *rvar, float momentum, int update) {
	FOR_EACH(c, C) {
		double a = 0, b = 0;
		for (int s = 0; s < S; s++) {
			a += part[2 * (c * S + s)];
			b += part[2 * (c * S + s) + 1];
		}
		double m = (double)N * P;
		double mu = (double)x[c * P] + a / m;
		double ss = b - a * a / m;
		double var = (ss > 0 ? ss : 0) / m;
		double inv = 1.0 / sqrt(var + 1e-5);
		float sc = (float)inv * gamma[c];
		mean[c] = (float)mu;
		invstd[c] = (float)inv;
		scale[c] = sc;
		shift[c] = beta[c] - (float)mu * sc;
		if (update) {
			double unb = m > 1 ? var * m / (m - 1) : var;
			rmean[c] = (1 - momentum) * rmean[c] + momentum * (float)mu;
			rvar[c] = (1 - momentum) * rvar[c] + momentum * (float)unb;
		}
	}
}

// bn_apply normalises with bn_stats' map and applies the rectifier.
KERNEL bn_apply(int N, int C, int P, const float *x, float *y, const float *scale, const float *shift, float slope) {
	int total = N * C * P;
	FOR_EACH(i, total) {
		int c = (i / P) % C;
		float v = x[i] * scale[c] + shift[c];
		y[i] = v <= 0.0f ? v * slope : v;
	}
}

// bn_bwd_partial sums g and g·(x−mean) over slices as bn_partial does, g
// being dy passed back through the rectifier.
KERNEL bn_bwd_partial(int N, int C, int P, int S, const float *x, const float *y, const float *dy, const float *mean,
		float slope, double *part) {
	int m = N * P;
	FOR_EACH(t, C * S) {
		int c = t / S, s = t % S;
		float mu = mean[c];
		double a = 0, b = 0;
		for (int j = s; j < m; j += S) {
			int i = ((j / P) * C + c) * P + j % P;
			float g = y[i] <= 0.0f ? dy[i] * slope : dy[i];
			a += g;
			b += (double)(g * (x[i] - mu));
		}
		part[2 * t] = a;
		part[2 * t + 1] = b;
	}
}

// bn_bwd_stats gives each channel Σg and Σg·x̂ (into sums) and, with accum,
// adds them to dβ and dγ.
KERNEL bn_bwd_stats(int C, int S, const double *part, const float *invstd, float *sums, float *dgamma, float *dbeta, int accum) {
	FOR_EACH(c, C) {
		double a = 0, b = 0;
		for (int s = 0; s < S; s++) {
			a += part[2 * (c * S + s)];
			b += part[2 * (c * S + s) + 1];
		}
		b *= invstd[c];
		sums[2 * c] = (float)a;
		sums[2 * c + 1] = (float)b;
		if (accum) {
			dbeta[c] += (float)a;
			dgamma[c] += (float)b;
		}
	}
}

// bn_bwd_dx is the gradient through batch norm and its rectifier.
KERNEL bn_bwd_dx(int N, int C, int P, const float *x, const float *y, const float *dy, const float *mean,
		const float *invstd, const float *gamma, const float *sums, float slope, float *dx) {
	int total = N * C * P;
	float m = (float)N * P;
	FOR_EACH(i, total) {
		int c = (i / P) % C;
		float g = y[i] <= 0.0f ? dy[i] * slope : dy[i];
		float inv = invstd[c];
		float a = sums[2 * c] / m, b = sums[2 * c + 1] / m * inv;
		dx[i] = gamma[c] * inv * (g - a - (x[i] - mean[c]) * b);
	}
}

// adam is one Adam update as PyTorch computes it.
KERNEL adam(int n, float *w, const float *g, float *m, float *v, float b1, float b2, float step, float sqrtbc2, float eps) {
	FOR_EACH(i, n) {
		float gi = g[i];
		float mi = b1 * m[i] + (1 - b1) * gi;
		float vi = b2 * v[i] + (1 - b2) * gi * gi;
		m[i] = mi;
		v[i] = vi;
		w[i] -= step * mi / (sqrtf(vi) / sqrtbc2 + eps);
	}
}

// Differentiable augmentation (nn.AugForward and nn.AugBackward are the
// reference). Each image's transforms arrive as AUG_PARAMS floats: the
// brightness, saturation and contrast factors, then the shift (TX, TY) and
// the cut-out rectangle (X0, Y0, X1, Y1) as small integers, exact in a
// float. A factor of exactly 1 skips its stage, as the CPU does, so the
// identity costs no rounding.
#define AUG_PARAMS 9

// aug_colour adds the brightness and scales each pixel's saturation around
// its channel mean (x and u are N×3×HW; one thread per pixel).
KERNEL aug_colour(int N, int HW, const float *prm, const float *x, float *u) {
	FOR_EACH(i, N * HW) {
		int n = i / HW, j = i % HW;
		const float *q = prm + n * AUG_PARAMS;
		const float *s = x + n * 3 * HW + j;
		float *d = u + n * 3 * HW + j;
		float b = q[0], sat = q[1];
		float r = s[0] + b, g = s[HW] + b, bl = s[2 * HW] + b;
		if (sat != 1.0f) {
			float m = (r + g + bl) / 3;
			r = sat * (r - m) + m;
			g = sat * (g - m) + m;
			bl = sat * (bl - m) + m;
		}
		d[0] = r;
		d[HW] = g;
		d[2 * HW] = bl;
	}
}

// aug_mean is each image's mean over its PER values, for the images whose
// contrast is not 1 (the others never read it). One thread per image: a
// batch's images are few and this is a small part of a step.
KERNEL aug_mean(int N, int PER, const float *prm, const float *x, float *mean) {
	FOR_EACH(n, N) {
		double a = 0;
		if (prm[n * AUG_PARAMS + 2] != 1.0f) {
			const float *s = x + n * PER;
			for (int j = 0; j < PER; j++)
				a += s[j];
		}
		mean[n] = (float)(a / PER);
	}
}

// aug_place is contrast around the image's mean, then translation and
// cutout (in output coordinates): y(h, w) = contrast(u(h − TY, w − TX)),
// zero outside the image or in the cut. Contrast is per value, so applying
// it as each value is gathered is the CPU's contrast-then-translate.
KERNEL aug_place(int N, int H, int W, const float *prm, const float *u, const float *mean, float *y) {
	FOR_EACH(i, N * 3 * H * W) {
		int w = i % W, h = (i / W) % H, nc = i / (H * W), n = nc / 3;
		const float *q = prm + n * AUG_PARAMS;
		int tx = (int)q[3], ty = (int)q[4];
		int iy = h - ty, ix = w - tx;
		int cut = h >= (int)q[6] && h < (int)q[8] && w >= (int)q[5] && w < (int)q[7];
		float v = 0.0f;
		if (iy >= 0 && iy < H && ix >= 0 && ix < W && !cut) {
			float c = q[2], m = mean[n];
			v = u[(nc * H + iy) * W + ix];
			if (c != 1.0f)
				v = c * (v - m) + m;
		}
		y[i] = v;
	}
}

// aug_place_bwd is the adjoint of translation and cutout: input pixel
// (h, w) went to output (h + TY, w + TX) and takes its gradient, unless
// that fell outside or in the cut. Contrast's adjoint follows in
// aug_colour_bwd, once aug_mean has the gradient's mean.
KERNEL aug_place_bwd(int N, int H, int W, const float *prm, const float *dy, float *g) {
	FOR_EACH(i, N * 3 * H * W) {
		int w = i % W, h = (i / W) % H, nc = i / (H * W), n = nc / 3;
		const float *q = prm + n * AUG_PARAMS;
		int oy = h + (int)q[4], ox = w + (int)q[3];
		int cut = oy >= (int)q[6] && oy < (int)q[8] && ox >= (int)q[5] && ox < (int)q[7];
		g[i] = (oy >= 0 && oy < H && ox >= 0 && ox < W && !cut) ? dy[(nc * H + oy) * W + ox] : 0.0f;
	}
}

// aug_colour_bwd is the adjoint of contrast then of saturation (both
// symmetric maps; brightness, a constant, drops out), one thread per pixel.
KERNEL aug_colour_bwd(int N, int HW, const float *prm, const float *g, const float *mean, float *dx) {
	FOR_EACH(i, N * HW) {
		int n = i / HW, j = i % HW;
		const float *q = prm + n * AUG_PARAMS;
		const float *s = g + n * 3 * HW + j;
		float *d = dx + n * 3 * HW + j;
		float c = q[2], sat = q[1], m = mean[n];
		float r = s[0], gg = s[HW], b = s[2 * HW];
		if (c != 1.0f) {
			r = c * (r - m) + m;
			gg = c * (gg - m) + m;
			b = c * (b - m) + m;
		}
		if (sat != 1.0f) {
			float k = (r + gg + b) / 3;
			r = sat * (r - k) + k;
			gg = sat * (gg - k) + k;
			b = sat * (b - k) + k;
		}
		d[0] = r;
		d[HW] = gg;
		d[2 * HW] = b;
	}
}

// ema moves the generator's average toward its weights after a step.
KERNEL ema(int n, const float *w, float *avg, float beta) {
	FOR_EACH(i, n) avg[i] = w[i] + beta * (avg[i] - w[i]);
}

// Minibatch standard deviation (ProGAN's, over the whole batch): x is N rows
// of CP features; the discriminator's last map gains E places holding s, the
// mean over features of their standard deviation across the batch.
// mbstd_stats: each feature's mean and deviation, in two passes as the CPU
// engine does (gan/nn's mbstd).
KERNEL mbstd_stats(int N, int CP, const float *x, double *mu, double *sd) {
	FOR_EACH(j, CP) {
		double m = 0, v = 0;
		for (int i = 0; i < N; i++)
			m += (double)x[i * CP + j];
		m /= N;
		for (int i = 0; i < N; i++) {
			double d = (double)x[i * CP + j] - m;
			v += d * d;
		}
		mu[j] = m;
		sd[j] = sqrt(v / N + 1e-8);
	}
}

// mbstd_mean: s[0] is the mean of the CP deviations. One thread: CP is a few
// thousand, and one thread keeps the CPU engine's order of summation.
KERNEL mbstd_mean(int CP, const double *sd, float *s) {
	FOR_EACH(t, 1) {
		double a = 0;
		for (int j = 0; j < CP; j++)
			a += sd[j];
		s[0] = (float)(a / CP);
	}
}

// mbstd_concat: f[N][CP+E] is each row of x followed by E copies of s[0].
KERNEL mbstd_concat(int N, int CP, int E, const float *x, const float *s, float *f) {
	FOR_EACH(i, N * (CP + E)) {
		int k = i % (CP + E), n = i / (CP + E);
		f[i] = k < CP ? x[n * CP + k] : s[0];
	}
}

// mbstd_gsum: g[0] is the sum of df's E appended columns, the gradient of s.
KERNEL mbstd_gsum(int N, int CP, int E, const float *df, double *g) {
	FOR_EACH(t, 1) {
		double a = 0;
		for (int n = 0; n < N; n++)
			for (int k = CP; k < CP + E; k++)
				a += (double)df[n * (CP + E) + k];
		g[0] = a;
	}
}

// mbstd_bwd: dx = df's own columns + g·∂s/∂x, where
// ∂s/∂x[n][j] = (x[n][j] − μ_j) / (N·CP·σ_j).
KERNEL mbstd_bwd(int N, int CP, int E, const float *x, const double *mu, const double *sd, const double *g,
		 const float *df, float *dx) {
	FOR_EACH(i, N * CP) {
		int j = i % CP, n = i / CP;
		double coef = g[0] / ((double)N * CP);
		dx[i] = df[n * (CP + E) + j] + (float)(coef * ((double)x[i] - mu[j]) / sd[j]);
	}
}
