//go:build !unix

package embedded

// lockDir does nothing where flock is unavailable; running two engines on the same
// data directory there is the operator's mistake to avoid.
func lockDir(string) (unlock func() error, err error) {
	return func() error { return nil }, nil
}
