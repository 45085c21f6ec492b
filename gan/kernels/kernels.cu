// nvcc compiles the kernels from here; they live in kernels.h, which Go
// tracks (it rebuilds the emulator when a .h changes, not a .cu).
#include "kernels.h"
