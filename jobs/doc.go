// Package jobs runs training in the background: River jobs on the studio's
// database, one per stretch of a run, worked by `ganstudio serve` or
// `ganstudio worker`, with heartbeats so a killed worker's runs resume.
// Each device has its queue (QueueFor), so a run waits for a worker of its own.
// A run with a feedback weight reads its ratings every FeedbackEvery steps
// and hands them to the trainer (feedback.go).
package jobs
