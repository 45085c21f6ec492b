// Package store keeps GAN Studio's records (datasets, runs, metrics,
// snapshots, samples, ratings, events, workers) in SQLite, and its blobs
// (datasets, grids, samples, checkpoints) behind the Blobs interface.
package store
