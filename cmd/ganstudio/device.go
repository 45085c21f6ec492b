package main

import (
	"fmt"
	"slices"

	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/gan/spec"
)

// defaultWorkerDevice is what a worker trains on unless told: the GPU in a
// build that has CUDA (ganstudio-cuda), the CPU otherwise.
func defaultWorkerDevice() string {
	if slices.Contains(gan.Devices(), "cuda") {
		return "cuda"
	}
	return spec.CPU
}

// deviceUsage is the help of a command's --device flag.
func deviceUsage(what string) string {
	return fmt.Sprintf("%s (this build has %v)", what, gan.Devices())
}

// useDevice makes the trainers this process makes from now on run on
// device. It opens a GPU here, so a missing one stops the command at once.
func useDevice(device string) error {
	if err := gan.SetDevice(device); err != nil {
		hint := ""
		if !slices.Contains(gan.Devices(), device) {
			hint = " (a GPU worker is ganstudio-cuda, built with make cuda)"
		}
		return fmt.Errorf("--device %s: %w%s", device, err, hint)
	}
	return nil
}
