// The host emulator: kernels.cu compiled as C, a dispatcher that unpacks
// launch arguments from 64-bit slots as cuLaunchKernel would, and a
// column-major SGEMM with cuBLAS's meaning.
#include <stdint.h>
#include <string.h>
#include "kernels.h"
#include "emu.h"

#define I(j) ((int)(int32_t)(uint32_t)a[j])
#define F(j) bits2f(a[j])
#define P(j) ((float *)(uintptr_t)a[j])
#define D(j) ((double *)(uintptr_t)a[j])
#define CASE(nm, arity, call)                                                                                          \
	if (strcmp(name, #nm) == 0) {                                                                                  \
		if (nargs != (arity))                                                                                  \
			return -(arity) - 1;                                                                           \
		call;                                                                                                  \
		return 0;                                                                                              \
	}

static float bits2f(uint64_t v) {
	uint32_t u = (uint32_t)v;
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

int emu_launch(const char *name, const uint64_t *a, int nargs) {
	CASE(fill, 3, fill(I(0), P(1), F(2)))
	CASE(im2col, 11, im2col(I(0), I(1), I(2), I(3), I(4), I(5), I(6), I(7), I(8), P(9), P(10)))
	CASE(col2im, 11, col2im(I(0), I(1), I(2), I(3), I(4), I(5), I(6), I(7), I(8), P(9), P(10)))
	CASE(cn_to_nc, 5, cn_to_nc(I(0), I(1), I(2), P(3), P(4)))
	CASE(nc_to_cn, 5, nc_to_cn(I(0), I(1), I(2), P(3), P(4)))
	CASE(add_bias, 5, add_bias(I(0), I(1), I(2), P(3), P(4)))
	CASE(sum_partial, 6, sum_partial(I(0), I(1), I(2), I(3), P(4), D(5)))
	CASE(sum_finish, 4, sum_finish(I(0), I(1), D(2), P(3)))
	CASE(leaky, 4, leaky(I(0), P(1), P(2), F(3)))
	CASE(leaky_bwd, 5, leaky_bwd(I(0), P(1), P(2), P(3), F(4)))
	CASE(tanh_fwd, 3, tanh_fwd(I(0), P(1), P(2)))
	CASE(tanh_bwd, 4, tanh_bwd(I(0), P(1), P(2), P(3)))
	CASE(up2, 6, up2(I(0), I(1), I(2), I(3), P(4), P(5)))
	CASE(up2_bwd, 6, up2_bwd(I(0), I(1), I(2), I(3), P(4), P(5)))
	CASE(bn_partial, 6, bn_partial(I(0), I(1), I(2), I(3), P(4), D(5)))
	CASE(bn_stats, 16,
	     bn_stats(I(0), I(1), I(2), I(3), P(4), D(5), P(6), P(7), P(8), P(9), P(10), P(11), P(12), P(13), F(14), I(15)))
	CASE(bn_apply, 8, bn_apply(I(0), I(1), I(2), P(3), P(4), P(5), P(6), F(7)))
	CASE(bn_bwd_partial, 10, bn_bwd_partial(I(0), I(1), I(2), I(3), P(4), P(5), P(6), P(7), F(8), D(9)))
	CASE(bn_bwd_stats, 8, bn_bwd_stats(I(0), I(1), D(2), P(3), P(4), P(5), P(6), I(7)))
	CASE(bn_bwd_dx, 12, bn_bwd_dx(I(0), I(1), I(2), P(3), P(4), P(5), P(6), P(7), P(8), P(9), F(10), P(11)))
	CASE(adam, 10, adam(I(0), P(1), P(2), P(3), P(4), F(5), F(6), F(7), F(8), F(9)))
	CASE(aug_colour, 5, aug_colour(I(0), I(1), P(2), P(3), P(4)))
	CASE(aug_mean, 5, aug_mean(I(0), I(1), P(2), P(3), P(4)))
	CASE(aug_place, 7, aug_place(I(0), I(1), I(2), P(3), P(4), P(5), P(6)))
	CASE(aug_place_bwd, 6, aug_place_bwd(I(0), I(1), I(2), P(3), P(4), P(5)))
	CASE(aug_colour_bwd, 6, aug_colour_bwd(I(0), I(1), P(2), P(3), P(4), P(5)))
	CASE(ema, 4, ema(I(0), P(1), P(2), F(3)))
	CASE(mbstd_stats, 5, mbstd_stats(I(0), I(1), P(2), D(3), D(4)))
	CASE(mbstd_mean, 3, mbstd_mean(I(0), D(1), P(2)))
	CASE(mbstd_concat, 6, mbstd_concat(I(0), I(1), I(2), P(3), P(4), P(5)))
	CASE(mbstd_gsum, 5, mbstd_gsum(I(0), I(1), I(2), P(3), D(4)))
	CASE(mbstd_bwd, 9, mbstd_bwd(I(0), I(1), I(2), P(3), D(4), D(5), D(6), P(7), P(8)))
	return -1;
}

// emu_sgemm is C = alpha·op(A)·op(B) + beta·C, column-major, as cublasSgemm.
void emu_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda, const float *B, int ldb,
	       float beta, float *C, int ldc) {
	for (int j = 0; j < n; j++) {
		for (int i = 0; i < m; i++) {
			float s = 0.0f;
			for (int l = 0; l < k; l++) {
				float x = ta ? A[l + i * lda] : A[i + l * lda];
				float y = tb ? B[j + l * ldb] : B[l + j * ldb];
				s += x * y;
			}
			float *c = &C[i + j * ldc];
			*c = beta == 0.0f ? alpha * s : alpha * s + beta * *c;
		}
	}
}

// emu_arity is how many arguments kernel name takes, or -1 if there is none.
int emu_arity(const char *name) {
	int r = emu_launch(name, 0, -1);
	return r == -1 ? -1 : -r - 1;
}
