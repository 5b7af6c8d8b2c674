//go:build unix

package embedded

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive advisory lock on dir/fhirgate.lock, so that a second
// process (or a second Client in this one) cannot run the embedded engine on the same
// files: the commit protocol relies on the embedded engine having a single writer.
func lockDir(dir string) (unlock func() error, err error) {
	path := filepath.Join(dir, "fhirgate.lock")

	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}

	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock %s: data directory in use by another engine: %w", path, err)
	}

	return f.Close, nil // closing the file releases the lock
}
