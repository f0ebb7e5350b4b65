// Package testfs holds file-tree helpers that tests of several packages share.
package testfs

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TreeHash hashes every path, mode and regular file's content under root: two trees
// with the same hash are the same for a deploy's purposes, byte for byte.
func TreeHash(tb testing.TB, root string) string {
	tb.Helper()
	h := sha256.New()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		io.WriteString(h, rel+"\x00"+fi.Mode().String()+"\x00")
		if d.Type().IsRegular() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
