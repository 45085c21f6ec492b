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
}

func loadDataset(ctx context.Context, spec string, res int) (*datasets.Dataset, error) {
	if name, ok := strings.CutPrefix(spec, "builtin:"); ok {
		return datasets.Builtin(name, res)
	}
	last := time.Now()
	ds, rep, err := datasets.ImportPath(ctx, spec, res, datasets.DefaultLimits(), func(done, total int) {
		if time.Since(last) > time.Second || done == total {
			fmt.Fprintf(os.Stderr, "\rimporting %s: %d/%d files", spec, done, total)
			last = time.Now()
		}
	})
	fmt.Fprintln(os.Stderr)
	for _, s := range rep.Skipped {
		fmt.Fprintf(os.Stderr, "skipped %s: %s\n", s.Name, s.Reason)
	}
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", spec, err)
	}
	fmt.Fprintf(os.Stderr, "imported %d images from %s (%d skipped)\n", rep.Imported, spec, len(rep.Skipped))
	return ds, nil
}

func trainCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	dataset := fs.String("dataset", "builtin:emoji", "builtin:emoji, builtin:shapes, or a folder or .zip of images")
	preset := fs.String("preset", "ref32", "network preset: ref32, ref64, tiny")
	res := fs.Int("res", 0, "resolution, 32 or 64 (default: the preset's)")
	width := fs.Float64("width", 0, "channel width multiplier (default: the preset's)")
	batch := fs.Int("batch", 0, "batch size (default: the preset's)")
	lrG := fs.Float64("lr-g", 0, "generator learning rate (default: the preset's)")
	lrD := fs.Float64("lr-d", 0, "discriminator learning rate (default: the preset's)")
	seed := fs.Uint64("seed", 1, "random seed")
	steps := fs.Int("steps", 2000, "train until this step")
	out := fs.String("out", "", "output folder (default runs/TIME)")
	resume := fs.String("resume", "", "go on with the run in this folder")
	gridEvery := fs.Int("grid-every", 100, "write the fixed-latent grid every N steps")
	ckptEvery := fs.Int("ckpt-every", 250, "write a checkpoint every N steps")
	evalEvery := fs.Int("eval-every", 500, "measure SWD quality every N steps (0: never)")
	device := fs.String("device", spec.CPU, deviceUsage("train on this device"))
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *steps < 1 {
		return errors.New("--steps must be at least 1")
	}
	if err := useDevice(*device); err != nil {
		return err
	}

	var tr *gan.Trainer
	var ds *datasets.Dataset
	if *resume != "" {
		*out = *resume
		info, err := readRunInfo(*resume)
		if err != nil {
			return err
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
		setIf(&cfg.LRG, *lrG)
		setIf(&cfg.LRD, *lrD)
		cfg.Seed = *seed
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
		if err := writeJSON(filepath.Join(*out, "run.json"), runInfo{Dataset: *dataset, Config: cfg}); err != nil {
			return err
		}
	}
	defer tr.Close()
	return trainLoop(ctx, tr, ds, *out, *steps, *gridEvery, *ckptEvery, *evalEvery)
}

func setIf[T int | float64](dst *T, v T) {
	if v != 0 {
		*dst = v
	}
}

// trainLoop runs to the given step, writing grids, checkpoints, quality
// figures and one metrics line per step. Cancelling ctx (Ctrl-C) saves a
// checkpoint first, so nothing trained is lost.
func trainLoop(ctx context.Context, tr *gan.Trainer, ds *datasets.Dataset, out string, steps, gridEvery, ckptEvery, evalEvery int) error {
	cfg := tr.Config()
	mf, err := os.OpenFile(filepath.Join(out, "metrics.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer mf.Close()
	metrics := json.NewEncoder(mf)
	ckpt := filepath.Join(out, "checkpoint.gob")
	fmt.Fprintf(os.Stderr, "training %d×%d, batch %d, width %g on %s (%d images), device %s; output in %s\n",
		cfg.Res, cfg.Res, cfg.Batch, cfg.Width, ds.Name, ds.Len(), gan.DeviceName(), out)

	var floor gan.SWDResult
	eval := func() error {
		q, err := tr.Quality()
		if err != nil {
			return err
		}
		if floor.Levels == nil {
			if floor, err = gan.QualityFloor(ds); err != nil {
				return err
			}
		}
		fmt.Fprintf(os.Stderr, "step %d: SWD %.1f (real-vs-real floor %.1f)\n", tr.Step(), q.Mean, floor.Mean)
		return metrics.Encode(map[string]any{"step": tr.Step(), "swd": q, "swd_floor": floor})
	}
	grid := func() error {
		img, err := tr.Generator().GridImage()
		if err != nil {
			return err
		}
		return writePNG(filepath.Join(out, fmt.Sprintf("grid-%06d.png", tr.Step())), img)
	}
	if tr.Step() == 0 {
		if err := grid(); err != nil {
			return err
		}
		if evalEvery > 0 {
			if err := eval(); err != nil {
				return err
			}
		}
	}
	start, startStep := time.Now(), tr.Step()
	lastPrint := time.Time{}
	for tr.Step() < steps {
		st, err := tr.TrainStep(ctx)
		if err != nil {
			if ctx.Err() != nil {
				fmt.Fprintf(os.Stderr, "\nstopped at step %d; saving a checkpoint\n", tr.Step())
				if err := tr.SaveCheckpoint(ckpt); err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "resume with: ganstudio train --resume %s --steps %d\n", out, steps)
				return nil
			}
			return err
		}
		if err := metrics.Encode(st); err != nil {
			return err
		}
		s := tr.Step()
		if time.Since(lastPrint) > 2*time.Second || s == steps {
			el := time.Since(start).Seconds()
			done := s - startStep
			ips := float64(done*cfg.Batch) / el
			eta := time.Duration(float64(steps-s) * el / float64(done) * float64(time.Second)).Round(time.Second)
			fmt.Fprintf(os.Stderr, "step %d/%d  loss D %.3f G %.3f  D(x) %.2f D(G(z)) %.2f  %.0f img/s  ETA %s\n",
				s, steps, st.LossD, st.LossG, st.DReal, st.DFake, ips, eta)
			lastPrint = time.Now()
		}
		if gridEvery > 0 && (s%gridEvery == 0 || s == steps) {
			if err := grid(); err != nil {
				return err
			}
		}
		if evalEvery > 0 && (s%evalEvery == 0 || s == steps) {
			if err := eval(); err != nil {
				return err
			}
		}
		if ckptEvery > 0 && (s%ckptEvery == 0 || s == steps) {
			if err := tr.SaveCheckpoint(ckpt); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(os.Stderr, "done: %d steps; grids, metrics.jsonl and checkpoint.gob are in %s\n", steps, out)
	return nil
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

func writeJSON(path string, v any) error {
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(raw, '\n'), 0o644)
}

// writePNG writes atomically, so a viewer never sees half an image.
func writePNG(path string, img image.Image) error {
	return atomicfile.Write(path, func(w io.Writer) error { return png.Encode(w, img) })
}
