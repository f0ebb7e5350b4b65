package deployments

import (
	"context"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"sync"
	"syscall"
	"time"
)

// copyEntry copies the file or symlink src has at srcRel to dstName in dst (which must
// not exist), keeping mode, mtime and, as root, owner. It does not follow a symlink.
func copyEntry(src, dst *os.Root, srcRel, dstName string) error {
	fi, err := src.Lstat(srcRel)
	if err != nil {
		return err
	}
	switch kindOf(fi.Mode()) {
	case kindSymlink:
		target, err := src.Readlink(srcRel)
		if err != nil {
			return err
		}
		return writeSymlink(dst, dstName, target, fi.Sys())
	case kindFile:
		f, err := src.Open(srcRel)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("not a regular file any more")
		}
		_, err = writeFile(dst, dstName, f, fi, 0, nil)
		return err
	}
	return fmt.Errorf("cannot copy a %s", typeName(fi.Mode()))
}

// writeFile creates name in dst (it must not exist) with src's bytes, mode less the
// bits in strip, mtime and, as root, owner, and syncs it. With sum, the bytes written
// are hashed into it too.
func writeFile(dst *os.Root, name string, src *os.File, fi fs.FileInfo, strip fs.FileMode, sum hash.Hash) (n int64, err error) {
	want := fi.Mode() & permBits &^ strip
	out, err := dst.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, want&fs.ModePerm)
	if err != nil {
		return 0, err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			dst.Remove(name)
		}
	}()
	var r io.Reader = src
	if sum != nil {
		// Hashing reads the bytes through user space, where a plain copy would let
		// the kernel copy them (copy_file_range); the hash is what tells a later plan
		// that production was edited by hand.
		r = io.TeeReader(src, sum)
	}
	if sum != nil {
		bp := bufPool.Get().(*[]byte)
		n, err = io.CopyBuffer(out, r, *bp)
		bufPool.Put(bp)
	} else {
		n, err = io.Copy(out, r)
	}
	if err != nil {
		return n, err
	}
	// Owner and mode are changed only where the new file did not get them already:
	// each change is another journaled inode update, and most copies need none.
	got, err := out.Stat()
	if err != nil {
		return n, err
	}
	if uid, gid, ok := ownerToKeep(fi.Sys()); ok && !sameOwner(got.Sys(), uid, gid) {
		if err = out.Chown(uid, gid); err != nil {
			return n, err
		}
		got = nil // chown clears setuid and setgid bits
	}
	if got == nil || got.Mode()&permBits != want {
		if err = out.Chmod(want); err != nil {
			return n, err
		}
	}
	if err = dst.Chtimes(name, time.Time{}, fi.ModTime()); err != nil {
		return n, err
	}
	return n, out.Sync()
}

func writeSymlink(dst *os.Root, name, target string, sys any) error {
	if err := dst.Symlink(target, name); err != nil {
		return err
	}
	if uid, gid, ok := ownerToKeep(sys); ok {
		if got, err := dst.Lstat(name); err == nil && sameOwner(got.Sys(), uid, gid) {
			return nil
		}
		if err := dst.Lchown(name, uid, gid); err != nil {
			dst.Remove(name)
			return err
		}
	}
	return nil
}

func sameOwner(sys any, uid, gid int) bool {
	st, ok := sys.(*syscall.Stat_t)
	return ok && int(st.Uid) == uid && int(st.Gid) == gid
}

// ownerToKeep returns the owner to give a copy: only root may give files away.
func ownerToKeep(sys any) (uid, gid int, ok bool) {
	st, isStat := sys.(*syscall.Stat_t)
	if !isStat || os.Geteuid() != 0 {
		return 0, 0, false
	}
	return int(st.Uid), int(st.Gid), true
}

func syncDirIn(r *os.Root, dir string) error {
	f, err := r.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// parallel runs fn on every item with at most n at once, stopping at the first error.
func parallel[T any](ctx context.Context, n int, items []T, fn func(T) error) error {
	if len(items) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan T)
	var wg sync.WaitGroup
	for range min(n, len(items)) {
		wg.Go(func() {
			for it := range next {
				if err := fn(it); err != nil {
					cancel(err)
				}
			}
		})
	}
loop:
	for _, it := range items {
		select {
		case next <- it:
		case <-ctx.Done():
			break loop
		}
	}
	close(next)
	wg.Wait()
	return context.Cause(ctx)
}
