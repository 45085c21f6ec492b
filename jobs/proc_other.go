//go:build !unix

package jobs

// processGone cannot tell here; heartbeats going stale still tell.
func processGone(pid int) bool { return false }

// procIdentity cannot tell here: pids are never compared.
func procIdentity(host string) string { return "" }
