package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/ganstudio/ganstudio/datasets"
	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/gan/spec"
)

// deviceCheckCmd is 'ganstudio bench device': a few training steps on the
// CPU and on a device side by side, from the same seed, and how far apart
// they end. scripts/gpu-check.sh runs it on a GPU.
func deviceCheckCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench device", flag.ContinueOnError)
	devs := gan.Devices()
	device := fs.String("device", devs[len(devs)-1], fmt.Sprintf("the device to check against the CPU (this build has %v)", devs))
	preset := fs.String("preset", "ref32", "network preset")
	batch := fs.Int("batch", 0, "batch size (default: the preset's)")
	steps := fs.Int("steps", 5, "training steps on each")
	asJSON := fs.Bool("json", false, "print one JSON object instead of a table")
	augment := fs.String("augment", "", augmentUsage+" (a fixed strength draws transforms from the first step)")
	loss := fs.String("loss", "", "GAN loss: ns or hinge (default: the preset's)")
	mbstd := fs.Bool("mbstd", false, "give D the batch's spread as one more channel (minibatch standard deviation)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *device == spec.CPU {
		return fmt.Errorf("this build has no device but the CPU (build ganstudio-cuda with make cuda)")
	}
	cfg, err := presetConfig(*preset, *batch, *augment)
	if err != nil {
		return err
	}
	if *loss != "" {
		cfg.Loss = *loss
	}
	cfg.MBStd = cfg.MBStd || *mbstd
	if err := cfg.Validate(); err != nil {
		return err
	}
	if *steps < 1 {
		return fmt.Errorf("--steps must be at least 1")
	}
	chk, err := gan.CheckDevice(ctx, *device, cfg, datasets.Shapes(512, cfg.Res, 1), *steps)
	if err != nil {
		return err
	}
	if *asJSON {
		if err := json.NewEncoder(os.Stdout).Encode(chk); err != nil {
			return err
		}
	} else {
		fmt.Printf("%s, batch %d: %d steps on the CPU and on %s from the same seed\n", *preset, cfg.Batch, *steps, *device)
		w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(w, "step\tloss D cpu\tloss D %s\tloss G cpu\tloss G %s\tD(x) cpu\tD(x) %s\t\n", *device, *device, *device)
		for _, s := range chk.Steps {
			a, b := s[0], s[1]
			fmt.Fprintf(w, "%d\t%.6f\t%.6f\t%.6f\t%.6f\t%.6f\t%.6f\t\n", a.Step, a.LossD, b.LossD, a.LossG, b.LossG, a.DReal, b.DReal)
		}
		w.Flush()
		fmt.Printf("losses and D outputs differ by %.2g at most (relative); each step's weight updates by %.2g of their size at most (furthest apart: %s)\n",
			chk.LossDiff, chk.WeightDiff, chk.Where)
	}
	if !(chk.LossDiff < gan.DeviceLossTolerance && chk.WeightDiff < gan.DeviceWeightTolerance) {
		return fmt.Errorf("%s strays from the CPU engine beyond float rounding (tolerances %g for losses, %g for weight updates)",
			*device, gan.DeviceLossTolerance, gan.DeviceWeightTolerance)
	}
	if !*asJSON {
		fmt.Printf("ok: within float rounding (tolerances %g for losses, %g for weight updates)\n", gan.DeviceLossTolerance, gan.DeviceWeightTolerance)
	}
	return nil
}
