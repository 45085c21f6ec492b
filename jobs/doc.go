// Package jobs runs training in the background: River jobs on the studio's
// database, one per stretch of a run, worked by `ganstudio serve` or
// `ganstudio worker`, with heartbeats so a killed worker's runs resume.
package jobs
