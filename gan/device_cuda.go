//go:build gpu

package gan

import "github.com/ganstudio/ganstudio/gan/kernels"

// The CUDA build adds the GPU as a device; SetDevice("cuda") opens it.
func init() {
	registerDevice("cuda", func() (device, error) { return kernels.OpenCUDA() })
}
