package deployments

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"
)

// Undo restores production as it was before the deploy — overwritten and deleted
// files back from the backup, added files and created directories removed, nothing
// else touched — then drops the journal and the backup. It may be called before or
// after Sync; after a Sync that failed (and restored) it does nothing. A committed
// deploy is undone with Rollback instead.
func (d *Deploy) Undo(ctx context.Context) error {
	if d.finished {
		if d.synced {
			return fmt.Errorf("undo deploy %s: committed; roll it back instead", d.rec.DeployID)
		}
		return nil
	}
	if err := d.e.undo(ctx, &d.rec); err != nil {
		return fmt.Errorf("undo deploy %s: %w", d.rec.DeployID, err)
	}
	d.finished = true
	return nil
}

// undo restores a journaled deploy and forgets it. On a failed restore the journal
// stays, so that the next start tries again.
func (e *Engine) undo(ctx context.Context, rec *Record) error {
	if err := e.restore(ctx, rec); err != nil {
		return err
	}
	if err := e.journal.DeleteJournal(ctx, rec.DeployID); err != nil {
		return err
	}
	if err := os.RemoveAll(e.backupDir(rec.Project, rec.DeployID)); err != nil {
		return fmt.Errorf("remove backup: %w", err)
	}
	return nil
}

// restore puts production back as it was before rec's deploy. Every step can be
// repeated, so a restore cut short by a crash is simply run again.
func (e *Engine) restore(ctx context.Context, rec *Record) error {
	if err := e.step("restore", ""); err != nil {
		return err
	}
	prod, err := os.OpenRoot(rec.Production)
	if err != nil {
		return fmt.Errorf("open production: %w", err)
	}
	defer prod.Close()
	if !validName(rec.Project) || !validName(rec.DeployID) {
		return fmt.Errorf("record names project %q, deploy %q: not usable as directory names", rec.Project, rec.DeployID)
	}
	// The backup is found from the state directory scar runs with now, not from the
	// path recorded, so that a moved state directory still restores.
	backup, err := os.OpenRoot(filepath.Join(e.backupDir(rec.Project, rec.DeployID), backupFiles))
	if err != nil {
		return fmt.Errorf("open backup: %w", err)
	}
	defer backup.Close()

	var errs []error
	dirs := map[string]struct{}{}
	mark := func(rel string) { dirs[path.Dir(rel)] = struct{}{} }

	// Temporary files of an interrupted sync or restore.
	i := 0
	for _, list := range [][]string{rec.Added, rec.Overwritten} {
		for _, rel := range list {
			prod.Remove(path.Join(path.Dir(rel), tempName(rec.DeployID, "w", i)))
			i++
		}
	}
	restores := append(slices.Clone(rec.Overwritten), rec.Deleted...)
	for i, rel := range restores {
		prod.Remove(path.Join(path.Dir(rel), tempName(rec.DeployID, "r", i)))
	}

	for _, rel := range rec.Added {
		fi, err := prod.Lstat(rel)
		if err != nil || fi.IsDir() {
			continue // never written, or not the deploy's to remove
		}
		if err := prod.Remove(rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, &FileError{Op: "remove added", Path: rel, Err: err})
		}
		mark(rel)
	}
	for _, rel := range slices.Backward(rec.Dirs) { // children before parents
		// A directory that holds something else now is left alone.
		if fi, err := prod.Lstat(rel); err != nil || !fi.IsDir() {
			continue
		}
		if err := prod.Remove(rel); err == nil {
			mark(rel)
		}
	}
	for _, d := range slices.Backward(rec.RemovedDirs) { // parents before children
		if err := prod.Mkdir(d.Path, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			errs = append(errs, &FileError{Op: "restore directory", Path: d.Path, Err: err})
			continue
		}
		if err := prod.Chmod(d.Path, d.Mode&permBits); err != nil {
			errs = append(errs, &FileError{Op: "restore directory", Path: d.Path, Err: err})
		}
		mark(d.Path)
	}

	indexes := make([]int, len(restores))
	for i := range indexes {
		indexes[i] = i
	}
	var mkdirMu, errMu sync.Mutex
	perr := parallel(ctx, e.workers, indexes, func(i int) error {
		rel := restores[i]
		if err := e.restoreFile(prod, backup, rel, tempName(rec.DeployID, "r", i), &mkdirMu); err != nil {
			errMu.Lock()
			errs = append(errs, &FileError{Op: "restore", Path: rel, Err: err})
			errMu.Unlock()
		}
		return nil
	})
	if perr != nil {
		errs = append(errs, perr)
	}
	for _, rel := range restores {
		mark(rel)
	}

	for _, t := range rec.Touched {
		if err := prod.Chtimes(t.Path, time.Time{}, t.MTime); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, &FileError{Op: "restore mtime", Path: t.Path, Err: err})
		}
	}
	for dir := range dirs {
		if err := syncDirIn(prod, dir); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			errs = append(errs, &FileError{Op: "sync directory", Path: dir, Err: err})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return nil
}

// restoreFile copies one backed-up file to a temporary name beside its place in
// production and renames it over whatever is there now.
func (e *Engine) restoreFile(prod, backup *os.Root, rel, temp string, mkdirMu *sync.Mutex) error {
	// A file the deploy never got to is left as it is: rewriting it would be
	// wasted work, and would fail where the sync failed (a read-only directory).
	if same, err := intact(prod, backup, rel); err != nil || same {
		return err
	}
	dir := path.Dir(rel)
	if dir != "." {
		mkdirMu.Lock()
		err := prod.MkdirAll(dir, 0o755)
		mkdirMu.Unlock()
		if err != nil {
			return err
		}
	}
	tmpRel := path.Join(dir, temp)
	if err := copyEntry(backup, prod, rel, tmpRel); err != nil {
		return err
	}
	if err := prod.Rename(tmpRel, rel); err != nil {
		prod.Remove(tmpRel)
		return err
	}
	return e.step("restored", rel)
}

// intact reports whether production still has rel exactly as the backup has it: the
// same type, mode and mtime, and the same bytes or link target.
func intact(prod, backup *os.Root, rel string) (bool, error) {
	bfi, err := backup.Lstat(rel)
	if err != nil {
		return false, err
	}
	pfi, err := lstatNoFollow(prod, rel)
	if err != nil || pfi.Mode() != bfi.Mode() {
		return false, nil
	}
	switch kindOf(bfi.Mode()) {
	case kindSymlink:
		a, err1 := prod.Readlink(rel)
		b, err2 := backup.Readlink(rel)
		return err1 == nil && err2 == nil && a == b, nil
	case kindFile:
		if pfi.Size() != bfi.Size() || !pfi.ModTime().Equal(bfi.ModTime()) {
			return false, nil
		}
		same, err := sameBytes(prod, backup, rel)
		return err == nil && same, nil
	}
	return false, nil
}
