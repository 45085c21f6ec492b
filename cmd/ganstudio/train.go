package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ganstudio/ganstudio/datasets"
	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/gan/spec"
	"github.com/ganstudio/ganstudio/internal/atomicfile"
)

// runInfo is written beside a run's outputs so --resume knows what it was.
type runInfo struct {
	Dataset string      `json:"dataset"`
	Config  spec.Config `json:"config"`
	// Policy is the collapse policy (absent in folders from before it:
	// the default).
	Policy *spec.Policy `json:"policy,omitempty"`
}

// stale is when a run says its quality has stopped improving, and whether
// it ends there.
type stale struct {
	Patience int // steps after the best (0: gan.DefaultPatience)
	Stop     bool
}

func loadDataset(ctx context.Context, dataset string, res int) (*datasets.Dataset, error) {
	if name, ok := strings.CutPrefix(dataset, "builtin:"); ok {
		return datasets.Builtin(name, res)
	}
	last := time.Now()
	ds, rep, err := datasets.ImportPath(ctx, dataset, res, datasets.DefaultLimits(), func(done, total int) {
		if time.Since(last) > time.Second || done == total {
			fmt.Fprintf(os.Stderr, "\rimporting %s: %d/%d files", dataset, done, total)
			last = time.Now()
		}
	})
	fmt.Fprintln(os.Stderr)
	for _, s := range rep.Skipped {
		fmt.Fprintf(os.Stderr, "skipped %s: %s\n", s.Name, s.Reason)
	}
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", dataset, err)
	}
	fmt.Fprintf(os.Stderr, "imported %d images from %s (%d skipped)\n", rep.Imported, dataset, len(rep.Skipped))
	return ds, nil
}

func trainCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	dataset := fs.String("dataset", "builtin:emoji", "builtin:emoji, builtin:openmoji, builtin:shapes, or a folder or .zip of images")
	preset := fs.String("preset", "studio32", "network preset: "+strings.Join(spec.PresetNames(), ", ")+" (studio32 and studio64 are the studio's default engine, ref32 and ref64 the plain DCGAN)")
	res := fs.Int("res", 0, "resolution, 32 or 64 (default: the preset's)")
	width := fs.Float64("width", 0, "channel width multiplier (default: the preset's)")
	batch := fs.Int("batch", 0, "batch size (default: the preset's)")
	lrG := fs.Float64("lr-g", 0, "generator learning rate (default: the preset's)")
	lrD := fs.Float64("lr-d", 0, "discriminator learning rate (default: the preset's)")
	seed := fs.Uint64("seed", 1, "random seed")
	steps := fs.Int("steps", 2000, "train until this step")
	out := fs.String("out", "", "output folder (default runs/TIME)")
	resume := fs.String("resume", "", "go on with the run in this folder")
	snapEvery := fs.Int("snapshot-every", 100, "a snapshot every N steps: the fixed-latent grid, a health check, a checkpoint and 8 samples")
	fs.IntVar(snapEvery, "grid-every", 100, "the same as --snapshot-every")
	evalEvery := fs.Int("eval-every", 500, "measure SWD quality every N steps (0: never)")
	policyMode := fs.String("collapse-policy", spec.PolicyRepair, "what to do about mode collapse: repair (roll back and remedy), warn, off")
	warmUp := fs.Int("collapse-warmup", spec.DefaultPolicy().WarmUp, "judge health from this step on")
	device := fs.String("device", spec.CPU, deviceUsage("train on this device"))
	augment := fs.String("augment", "", augmentUsage)
	ema := fs.String("ema", "", "half-life of the generator's weight average in images, 0 for none (default: the preset's)")
	patience := fs.Int("patience", gan.DefaultPatience, "steps without a better SWD after which the run says it has stopped improving")
	stopStale := fs.Bool("stop-when-stale", false, "end the run once SWD has not improved for --patience steps")
	mirror := fs.String("mirror", "", "flip real images left to right half the time: on or off (default: the preset's)")
	dWidth := fs.Float64("d-width", 0, "the discriminator's channel multiplier (default: the preset's; 0 with no preset value: the same as --width)")
	loss := fs.String("loss", "", "GAN loss: ns (non-saturating) or hinge (default: the preset's)")
	mbstd := fs.String("mbstd", "", "give the discriminator the batch's spread as one more channel (minibatch standard deviation): on or off (default: the preset's)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *steps < 1 || *snapEvery < 1 {
		return errors.New("--steps and --snapshot-every must be at least 1")
	}
	policy := spec.DefaultPolicy()
	policy.Mode, policy.WarmUp = *policyMode, *warmUp
	if err := policy.Validate(); err != nil {
		return err
	}
	if err := useDevice(*device); err != nil {
		return err
	}

	var tr *gan.Trainer
	var ds *datasets.Dataset
	var info runInfo
	if *resume != "" {
		*out = *resume
		var err error
		if info, err = readRunInfo(*resume); err != nil {
			return err
		}
		if info.Policy != nil {
			policy = *info.Policy
		}
		if ds, err = loadDataset(ctx, info.Dataset, info.Config.Res); err != nil {
			return err
		}
		if tr, err = gan.LoadCheckpoint(filepath.Join(*resume, "checkpoint.gob"), ds); err != nil {
			return err
		}
		if err := trimMetrics(filepath.Join(*resume, "metrics.jsonl"), tr.Step()); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "resuming %s at step %d\n", *resume, tr.Step())
	} else {
		cfg, err := spec.Preset(*preset)
		if err != nil {
			return err
		}
		setIf(&cfg.Res, *res)
		setIf(&cfg.Batch, *batch)
		setIf(&cfg.Width, *width)
		setIf(&cfg.DWidth, *dWidth)
		setIf(&cfg.LRG, *lrG)
		setIf(&cfg.LRD, *lrD)
		cfg.Seed = *seed
		if *augment != "" {
			if cfg.Augment, err = spec.ParseAugment(*augment); err != nil {
				return err
			}
		}
		if *ema != "" {
			v, err := strconv.ParseFloat(*ema, 64)
			if err != nil || v < 0 {
				return fmt.Errorf("--ema must be a half-life in images, 0 or more, not %q", *ema)
			}
			cfg.EMA = v
		}
		if err := setOnOff(&cfg.Mirror, "mirror", *mirror); err != nil {
			return err
		}
		if *loss != "" {
			cfg.Loss = *loss
		}
		if err := setOnOff(&cfg.MBStd, "mbstd", *mbstd); err != nil {
			return err
		}
		if err := cfg.Validate(); err != nil {
			return err
		}
		if *out == "" {
			*out = filepath.Join("runs", time.Now().Format("20060102-150405"))
		}
		if err := os.MkdirAll(*out, 0o755); err != nil {
			return err
		}
		if ds, err = loadDataset(ctx, *dataset, cfg.Res); err != nil {
			return err
		}
		if tr, err = gan.NewTrainer(cfg, ds); err != nil {
			return err
		}
		info = runInfo{Dataset: *dataset, Config: cfg, Policy: &policy}
		if err := writeJSON(filepath.Join(*out, "run.json"), info); err != nil {
			return err
		}
	}
	if *patience < 1 {
		return errors.New("--patience must be at least 1")
	}
	f := &folder{dir: *out, steps: *steps, stale: stale{Patience: *patience, Stop: *stopStale}}
	defer func() { f.tr.Close() }()
	f.tr = tr
	return f.train(ctx, ds, info.Config, policy, *resume == "", *snapEvery, *evalEvery)
}

func setIf[T int | float64](dst *T, v T) {
	if v != 0 {
		*dst = v
	}
}

func readRunInfo(dir string) (runInfo, error) {
	var info runInfo
	raw, err := os.ReadFile(filepath.Join(dir, "run.json"))
	if err != nil {
		return info, fmt.Errorf("resume: %w", err)
	}
	if err := json.Unmarshal(raw, &info); err != nil {
		return info, fmt.Errorf("resume: %s/run.json: %w", dir, err)
	}
	return info, nil
}

// trimMetrics drops metric lines past the checkpoint's step: those steps
// will be trained again, and would otherwise appear twice.
func trimMetrics(path string, step int) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	var keep []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var rec struct {
			Step int `json:"step"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Step <= step {
			keep = append(keep, sc.Text())
		}
	}
	f.Close()
	if err := sc.Err(); err != nil {
		return err
	}
	tmp := path + ".tmp"
	data := strings.Join(keep, "\n")
	if len(keep) > 0 {
		data += "\n"
	}
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// writeJSON writes atomically: run.json and guard.json are rewritten while
// a run goes on, and --resume must never find half of one.
func writeJSON(path string, v any) error {
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, func(w io.Writer) error { _, err := w.Write(append(raw, '\n')); return err })
}

// writePNG writes atomically, so a viewer never sees half an image.
func writePNG(path string, img image.Image) error {
	return atomicfile.Write(path, func(w io.Writer) error { return png.Encode(w, img) })
}

// setOnOff sets *dst from an on/off flag's value; empty leaves the
// preset's.
func setOnOff(dst *bool, flag, v string) error {
	switch v {
	case "":
	case "on", "off":
		*dst = v == "on"
	default:
		return fmt.Errorf("--%s must be on or off, not %q", flag, v)
	}
	return nil
}
