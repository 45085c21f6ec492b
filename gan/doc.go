// Package gan is GAN Studio's training engine: the DCGAN generator and
// discriminator, the training step on the CPU (gorgonia graphs) or a
// device, the one training loop every run follows, checkpoints, the
// generator on its own, quality and health measures, and ratings as a
// training signal. It knows nothing of HTTP, SQL or templates: callers hand
// it a data Source, a spec.Config and an Outside.
//
// A reading map:
//
//   - A run: loop.go. Loop.Run is the order of every run (train a step,
//     record, snapshot, health judged by the guard, roll back with a
//     remedy, ratings, checkpoint, pause and stop, finish); Outside is where
//     it reaches the world (the studio's worker in jobs, `ganstudio train`'s
//     output folder, `bench health` in memory). watch.go judges health at
//     snapshots (the guard itself is spec.Guard), remedy.go applies the
//     repair of a rollback.
//   - A step: Trainer.TrainStep in trainer.go (D, then G, on one batch of
//     latents); the graphs are built in trainer.go's compile from net.go's
//     generator and discriminator; on a device, accel.go does the same step
//     with the kernels of gan/kernels. augment.go is what makes it work on
//     small sets: the differentiable augmentation of everything D sees
//     (drawn per image, the op itself is nn.Augment), ADA's control of its
//     strength from r_t, the generator's weight average and mirrored data.
//   - When to stop: the loop keeps the step of the best SWD (Best, in
//     checkpoints), says when quality stops improving, and a memorising
//     discriminator (r_t high while SWD rises) is a health warning.
//   - A layer: the custom ops and what they use (im2col, BLAS, the parallel
//     loops, Adam, the losses) are package gan/nn; net.go puts them together.
//   - Images: generator.go (Generator: eval mode, loaded from a checkpoint
//     alone), sample.go (latents, grids, images), checkpoint.go (the whole
//     trainer, resumable exactly).
//   - Measures: swd.go and eval.go (SWD quality against the real-vs-real
//     floor), diversity.go and health.go (diversity, near-copies, NDB,
//     precision; the health report).
//   - Ratings: feedback.go (liked and disliked images in training),
//     rating.go (the rating model), bias.go ("near liked ones").
//   - Devices: device.go (which device trains), devcheck.go (a device's
//     step against the CPU's).
//
// The run's vocabulary shared with the store and the pages (Config,
// Policy, Guard, HealthReport, Stats) is package gan/spec, which links no
// numeric library; the 2-D mixture benchmark's MLP GAN is package
// gan/mixture.
package gan
