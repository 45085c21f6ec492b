package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/ganstudio/ganstudio/gan"
)

// serveCmd will start the web studio. Until it lands, it runs a short demo
// training on the built-in emoji so a fresh install shows the engine working.
func serveCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	out := fs.String("out", "runs/demo", "where the demo writes its grids and checkpoint")
	steps := fs.Int("steps", 300, "demo training steps")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	fmt.Fprintln(os.Stderr, "The web studio is not built yet: running a short demo training on the built-in emoji instead.")
	if gan.BLASName != "OpenBLAS" {
		fmt.Fprintln(os.Stderr, "Training runs on pure-Go BLAS; install libopenblas-dev and rebuild (make run) for about 3.5× the speed.")
	}
	return trainCmd(ctx, []string{"--dataset", "builtin:emoji", "--res", "32", "--steps", fmt.Sprint(*steps),
		"--out", *out, "--grid-every", "50", "--eval-every", "0"})
}
