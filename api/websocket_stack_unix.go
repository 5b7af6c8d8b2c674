//go:build unix

package api

import "syscall"

// pending reports whether socket fd has something to read, or has ended or failed (the read
// that follows reports it); false: the caller waits until it is readable and asks again.
func pending(fd uintptr) bool {
	var b [1]byte
	n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK)
	return n > 0 || err != syscall.EAGAIN
}
