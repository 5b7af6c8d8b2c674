//go:build !unix

package api

// pending reports the socket readable at once: awaitInput does not wait, and the websocket
// library's read waits instead.
func pending(uintptr) bool { return true }
