// Package kernels holds the CUDA backend's kernels (kernels.cu, built to
// kernels.ptx by `make ptx`) and the devices that run them: CUDA through
// gorgonia.org/cu (build tag gpu) and Emu, a host emulator that runs the
// same kernel source on the CPU so the GPU code path is tested everywhere.
//
// Package gan drives either through its device interface; nothing here
// knows about networks.
package kernels

import (
	_ "embed"
	"math"
)

// PTX is kernels.cu compiled by nvcc for compute capability 7.0 and up
// (the driver compiles it for the GPU at hand when the module loads).
//
//go:embed kernels.ptx
var PTX string

// Names are the kernels in kernels.cu, each an entry in PTX.
var Names = []string{
	"fill", "im2col", "col2im", "cn_to_nc", "nc_to_cn", "add_bias", "sum_partial", "sum_finish",
	"leaky", "leaky_bwd", "tanh_fwd", "tanh_bwd", "up2", "up2_bwd",
	"bn_partial", "bn_stats", "bn_apply", "bn_bwd_partial", "bn_bwd_stats", "bn_bwd_dx", "adam",
	"aug_colour", "aug_mean", "aug_place", "aug_place_bwd", "aug_colour_bwd", "ema",
	"mbstd_stats", "mbstd_mean", "mbstd_concat", "mbstd_gsum", "mbstd_bwd",
}

// Int, Float and Ptr pack kernel arguments into the 64-bit slots both
// devices read: cuLaunchKernel copies each parameter's size from the start
// of its slot, little-endian, so an int or a float sits in the low bytes.
func Int(v int) uint64       { return uint64(uint32(int32(v))) }
func Float(v float32) uint64 { return uint64(math.Float32bits(v)) }
func Ptr(p uintptr) uint64   { return uint64(p) }
