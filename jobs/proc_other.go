//go:build !unix

package jobs

// processGone cannot tell here; heartbeats going stale still tell.
func processGone(pid int) bool { return false }
