package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ganstudio/ganstudio/datasets"
	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/gan/spec"
)

// benchResult is what 'ganstudio bench --json' prints.
type benchResult struct {
	Preset       string    `json:"preset"`
	Device       string    `json:"device"`
	DeviceInfo   string    `json:"device_info,omitempty"`
	BLAS         string    `json:"blas"`
	Res          int       `json:"res"`
	Batch        int       `json:"batch"`
	Steps        int       `json:"steps"`
	Warmup       int       `json:"warmup"`
	StepMSMedian float64   `json:"step_ms_median"`
	StepMSMin    float64   `json:"step_ms_min"`
	StepMS       []float64 `json:"step_ms"`
	ImagesPerS   float64   `json:"images_per_s"`
	GFLOPPerStep float64   `json:"gflop_per_step"`
	GFLOPSPerS   float64   `json:"gflops_per_s"`
	PeakRSSMB    float64   `json:"peak_rss_mb"`
	Threads      int       `json:"threads"`
	GoVersion    string    `json:"go"`
}

func benchCmd(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "modes" {
		return modesCmd(ctx, args[1:]) // the 2-D mixture benchmarks, modes.go
	}
	if len(args) > 0 && args[0] == "feedback" {
		return feedbackCmd(ctx, args[1:]) // ratings steering training, feedback.go
	}
	if len(args) > 0 && args[0] == "health" {
		return healthCmd(ctx, args[1:]) // the collapse monitor on images, health.go
	}
	if len(args) > 0 && args[0] == "stacked" {
		return stackedCmd(ctx, args[1:]) // Stacked MNIST's 1,000 modes, stacked.go
	}
	if len(args) > 0 && args[0] == "quality" {
		return qualityCmd(ctx, args[1:]) // the engines' arms on one wall-clock budget, quality.go
	}
	if len(args) > 0 && args[0] == "device" {
		return deviceCheckCmd(ctx, args[1:]) // a device's step against the CPU's, devcheck.go
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	preset := fs.String("preset", "ref32", "network preset")
	batch := fs.Int("batch", 0, "batch size (default: the preset's)")
	device := fs.String("device", spec.CPU, deviceUsage("measure the step on this device"))
	steps := fs.Int("steps", 10, "measured steps")
	warmup := fs.Int("warmup", 2, "steps run first and not measured")
	asJSON := fs.Bool("json", false, "print one JSON object instead of a table")
	augment := fs.String("augment", "", augmentUsage+" (a fixed 0.5 measures a typical augmented step, as bench/peer/studio.py does)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	cfg, err := presetConfig(*preset, *batch, *augment)
	if err != nil {
		return err
	}
	if *steps < 1 || *warmup < 0 {
		return fmt.Errorf("--steps must be at least 1 and --warmup at least 0")
	}
	if err := useDevice(*device); err != nil {
		return err
	}
	ds := datasets.Shapes(512, cfg.Res, 1)
	tr, err := gan.NewTrainer(cfg, ds)
	if err != nil {
		return err
	}
	var ms []float64
	for i := 0; i < *warmup+*steps; i++ {
		t0 := time.Now()
		if _, err := tr.TrainStep(ctx); err != nil {
			return err
		}
		if i >= *warmup {
			ms = append(ms, float64(time.Since(t0).Microseconds())/1000)
		}
		if !*asJSON {
			fmt.Fprintf(os.Stderr, "\rstep %d/%d", i+1, *warmup+*steps)
		}
	}
	sorted := slices.Clone(ms)
	slices.Sort(sorted)
	med := sorted[len(sorted)/2]
	if len(sorted)%2 == 0 {
		med = (sorted[len(sorted)/2-1] + sorted[len(sorted)/2]) / 2
	}
	r := benchResult{
		Preset: *preset, Device: gan.DeviceName(), DeviceInfo: gan.DeviceInfo(), BLAS: gan.BLASName, Res: cfg.Res, Batch: cfg.Batch, Steps: *steps, Warmup: *warmup,
		StepMSMedian: round1(med), StepMSMin: round1(sorted[0]), StepMS: ms,
		ImagesPerS:   round1(float64(cfg.Batch) / (med / 1000)),
		GFLOPPerStep: round1(gan.StepFLOPs(cfg) / 1e9),
		GFLOPSPerS:   round1(gan.StepFLOPs(cfg) / 1e9 / (med / 1000)),
		PeakRSSMB:    peakRSSMB(), Threads: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
	}
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(r)
	}
	fmt.Fprintln(os.Stderr)
	fmt.Printf("%-22s %s\n", "preset", fmt.Sprintf("%s (%d×%d, batch %d)", r.Preset, r.Res, r.Res, r.Batch))
	fmt.Printf("%-22s %s\n", "device", r.Device)
	if r.DeviceInfo != "" {
		fmt.Printf("%-22s %s\n", "engine", r.DeviceInfo)
	} else {
		fmt.Printf("%-22s %s, %d threads, %s\n", "engine", r.BLAS, r.Threads, r.GoVersion)
	}
	fmt.Printf("%-22s %.1f ms (min %.1f, %d steps after %d warm-up)\n", "step (D+G) median", r.StepMSMedian, r.StepMSMin, r.Steps, r.Warmup)
	fmt.Printf("%-22s %.1f\n", "images/s", r.ImagesPerS)
	fmt.Printf("%-22s %.1f GFLOP/step, %.1f GFLOP/s\n", "compute", r.GFLOPPerStep, r.GFLOPSPerS)
	fmt.Printf("%-22s %.0f MB\n", "peak RSS", r.PeakRSSMB)
	return nil
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

// peakRSSMB reads the process's high-water resident set size (Linux).
func peakRSSMB() float64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return round1(kb / 1024)
		}
	}
	return 0
}

// presetConfig is a preset with its batch replaced when batch > 0, checked.
// augmentUsage is the --augment flag's help.
const augmentUsage = "augmentation of what the discriminator sees: auto (ADA), off, or a fixed strength 0–1 (default: the preset's)"

// presetConfig is a preset with the batch and augmentation given (0 and ""
// keep the preset's).
func presetConfig(preset string, batch int, augment string) (spec.Config, error) {
	cfg, err := spec.Preset(preset)
	if err != nil {
		return cfg, err
	}
	setIf(&cfg.Batch, batch)
	if augment != "" {
		if cfg.Augment, err = spec.ParseAugment(augment); err != nil {
			return cfg, err
		}
	}
	return cfg, cfg.Validate()
}
