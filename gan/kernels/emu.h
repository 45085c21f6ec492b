#include <stdint.h>
int emu_launch(const char *name, const uint64_t *args, int nargs);
void emu_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda, const float *B, int ldb,
	       float beta, float *C, int ldc);
int emu_arity(const char *name);
