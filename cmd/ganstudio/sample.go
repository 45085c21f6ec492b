package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ganstudio/ganstudio/gan"
)

// sampleCmd writes a grid of new samples, or interpolation strips, from a run's checkpoint.
func sampleCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("sample", flag.ContinueOnError)
	run := fs.String("run", "", "run folder (holds run.json and checkpoint.gob)")
	n := fs.Int("n", 64, "samples (or strips, with --interpolate)")
	seed := fs.Uint64("seed", 1, "latent seed")
	interp := fs.Int("interpolate", 0, "if > 0, each row interpolates between two random latents in this many steps")
	out := fs.String("out", "samples.png", "PNG to write")
	from := fs.String("from", "best", "which checkpoint: best (the step of the best quality; the latest if none was measured) or latest")
	live := fs.Bool("live", false, "sample the generator's live weights instead of their average")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *run == "" {
		return errors.New("--run is required")
	}
	if *n < 1 || *n > 4096 || *interp < 0 || *interp > 64 {
		return errors.New("--n must be in [1, 4096] and --interpolate in [0, 64]")
	}
	info, err := readRunInfo(*run)
	if err != nil {
		return err
	}
	var path string
	switch *from {
	case "best":
		path = filepath.Join(*run, "best.gob")
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			path = filepath.Join(*run, "checkpoint.gob")
		}
	case "latest":
		path = filepath.Join(*run, "checkpoint.gob")
	default:
		return fmt.Errorf("--from must be best or latest, not %q", *from)
	}
	load := gan.LoadGenerator
	if *live {
		load = gan.LoadLiveGenerator
	}
	g, err := load(path)
	if err != nil {
		return err
	}
	defer g.Close()
	zd := info.Config.ZDim
	z := gan.RandomLatents(*n, zd, *seed)
	cols := 8
	if *interp > 0 {
		ends := gan.RandomLatents(2**n, zd, *seed)
		z = z[:0]
		for i := 0; i < *n; i++ {
			z = append(z, gan.Interpolate(ends[2*i*zd:(2*i+1)*zd], ends[(2*i+1)*zd:(2*i+2)*zd], *interp)...)
		}
		cols = *interp
	}
	imgs, err := g.Generate(z)
	if err != nil {
		return err
	}
	if err := writePNG(*out, gan.Grid(imgs, info.Config.Res, cols)); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %d images from step %d to %s\n", len(imgs), g.Step(), *out)
	return nil
}
