// Command ganstudio is GAN Studio: a self-hosted GAN training studio.
//
//	ganstudio serve   the studio: web UI, JSON API and a training worker
//	ganstudio worker  a training worker alone, on the same studio (or a GPU)
//	ganstudio migrate a studio copied into another (SQLite and a folder into Postgres and S3)
//	ganstudio train   a headless training run
//	ganstudio sample  samples and interpolations from a checkpoint
//	ganstudio bench   the engine's speed on the reference network
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

const usage = `ganstudio — a self-hosted GAN training studio

Usage:
  ganstudio serve [flags]   start the studio (default)
  ganstudio train [flags]   train from the command line
  ganstudio sample [flags]  new samples or latent interpolations from a run's checkpoint
  ganstudio bench [flags]   measure the training step on the reference network (--device, --batch;
                            'bench device': a GPU's training step checked against the CPU's;
                            'bench quality': the engines' quality on one training-time budget;
                            'bench stacked': Stacked MNIST's 1,000 modes and the collapse detector)
  ganstudio worker [flags]  train queued runs of a studio (for extra workers, on this machine
                            or, with --database and --blobs, on others; --device cuda for the runs
                            made for a GPU, the default in ganstudio-cuda)
  ganstudio migrate --from DATA --to postgres://… --to s3://…
                            copy a studio (rows and blobs) into Postgres and S3, verified; resumable
  ganstudio user add [--admin] NAME | list | disable NAME | enable NAME | remove NAME
                            accounts (the password from the terminal, or standard input in scripts)
  ganstudio token add --user NAME [--name LABEL]
                            print a new API token for NAME (Authorization: Bearer TOKEN)

Run 'ganstudio COMMAND -h' for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err := run(ctx, os.Args[1:]); err != nil {
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "ganstudio:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

func run(ctx context.Context, args []string) error {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serveCmd(ctx, args)
	case "train":
		return trainCmd(ctx, args)
	case "bench":
		return benchCmd(ctx, args)
	case "sample":
		return sampleCmd(ctx, args)
	case "worker":
		return workerCmd(ctx, args)
	case "migrate":
		return migrateCmd(ctx, args, os.Stdout)
	case "user":
		return userCmd(ctx, args, os.Stdin, os.Stdout)
	case "token":
		return tokenCmd(ctx, args, os.Stdout)
	case "help", "-h", "--help":
		fmt.Print(usage)
		return nil
	}
	fmt.Fprint(os.Stderr, usage)
	return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
}
