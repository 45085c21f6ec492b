package gan

import (
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/ganstudio/ganstudio/gan/nn"
	"github.com/ganstudio/ganstudio/gan/spec"
)

var (
	devMu   sync.Mutex
	devOpen = map[string]func() (device, error){} // name → opener, besides spec.CPU
	devName = spec.CPU
	devOnce device // the opened device, shared by every trainer of the process
)

// ErrDeviceLost marks an error after which the device can do nothing more
// in this process (a GPU fault that loses the CUDA context). The run is not
// at fault: it goes on from its last checkpoint once the worker restarts.
var ErrDeviceLost = errors.New("the device is lost")

// Devices lists the devices this binary can train on, CPU first.
func Devices() []string {
	devMu.Lock()
	defer devMu.Unlock()
	return devicesLocked()
}

func devicesLocked() []string {
	out := make([]string, 0, len(devOpen))
	for n := range devOpen {
		out = append(out, n)
	}
	sort.Strings(out)
	return append([]string{spec.CPU}, out...)
}

// SetDevice chooses the device for the trainers this process makes from
// now on (NewTrainer, ReadCheckpoint). A GPU is opened here, once, so a
// missing or broken one is reported at start-up, not at the first run.
func SetDevice(name string) error {
	devMu.Lock()
	defer devMu.Unlock()
	if name != spec.CPU {
		if _, err := openLocked(name); err != nil {
			return err
		}
	}
	devName = name
	return nil
}

// openDevice is the named device, opened once per process and shared by
// every trainer on it.
func openDevice(name string) (device, error) {
	devMu.Lock()
	defer devMu.Unlock()
	return openLocked(name)
}

func openLocked(name string) (device, error) {
	open, ok := devOpen[name]
	if !ok {
		return nil, fmt.Errorf("device %q is not in this build (have %v)", name, devicesLocked())
	}
	if devOnce == nil || devOnce.Name() != name {
		d, err := open()
		if err != nil {
			return nil, fmt.Errorf("open device %s: %w", name, err)
		}
		devOnce = d
	}
	return devOnce, nil
}

// DeviceName is the device trainers are made on (SetDevice's choice).
func DeviceName() string {
	devMu.Lock()
	defer devMu.Unlock()
	return devName
}

// BLASName says which BLAS the engine uses on the CPU, for benchmarks and
// logs. It is nn's, copied at start-up: Go initialises nn, whose
// blas_openblas.go picks OpenBLAS, before any package that imports it.
var BLASName = nn.BLASName

// DeviceInfo describes the device trainers are made on, for benchmarks
// and logs ("" for the CPU: BLASName says what runs there).
func DeviceInfo() string {
	if d := currentDevice(); d != nil {
		return d.Info()
	}
	return ""
}

// currentDevice is the opened device, or nil for the CPU.
func currentDevice() device {
	devMu.Lock()
	defer devMu.Unlock()
	if devName == spec.CPU {
		return nil
	}
	return devOnce
}

func registerDevice(name string, open func() (device, error)) {
	devMu.Lock()
	defer devMu.Unlock()
	devOpen[name] = open
}
