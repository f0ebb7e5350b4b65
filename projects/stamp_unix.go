//go:build unix

package projects

import (
	"os"
	"syscall"
)

// fileID returns the device and inode of a file, which change when a new file is
// renamed over the old one even if size and mtime match.
func fileID(fi os.FileInfo) (dev, ino uint64) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0
	}
	// The conversions matter on platforms where Dev is a signed int32.
	return uint64(st.Dev), uint64(st.Ino)
}
