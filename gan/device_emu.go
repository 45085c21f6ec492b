//go:build emu

package gan

import "github.com/ganstudio/ganstudio/gan/kernels"

// A build with the tag emu adds the kernels' host emulator as the device
// "emu": the GPU worker's whole path (device choice, worker, training,
// checkpoints) on a machine without a GPU, slowly. Tests use it.
func init() {
	registerDevice("emu", func() (device, error) { return kernels.NewEmu(), nil })
}
