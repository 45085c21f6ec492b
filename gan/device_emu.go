//go:build emu

package gan

import (
	"fmt"

	"github.com/ganstudio/ganstudio/gan/kernels"
)

// A build with the tag emu adds the kernels' host emulator as the device
// "emu": the GPU worker's whole path (device choice, worker, training,
// checkpoints) on a machine without a GPU, slowly. Tests use it.
func init() {
	registerDevice("emu", func() (device, error) { return kernels.NewEmu(), nil })
}

// BreakEmulator makes the emulated device fail as a GPU whose CUDA context
// a fault lost (tests of what a worker does then).
func BreakEmulator(err error) error {
	d, ok := currentDevice().(*kernels.Emu)
	if !ok {
		return fmt.Errorf("the current device is %s, not the emulator", DeviceName())
	}
	d.Break(err)
	return nil
}
