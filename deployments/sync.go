package deployments

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Progress is how far a sync is. The callback gets it after each file.
type Progress struct {
	FilesDone, FilesTotal int
	BytesDone, BytesTotal int64
}

// Sync applies the deploy to production: deletions, directories, then every file
// written to a temporary name in its directory, synced and renamed over its target,
// several at once, keeping mode, mtime and (as root) owner. progress, if not nil, is
// called after each file, never concurrently.
//
// If any step fails, Sync restores production from the backup before it returns the
// error (a *FileError naming the file and the cause); the deploy is then finished and
// Undo has nothing left to do. Only when that restore fails too is the journal kept,
// for Undo or the next start's Recover.
func (d *Deploy) Sync(ctx context.Context, progress func(Progress)) error {
	if d.finished || d.synced {
		return fmt.Errorf("sync deploy %s: already synced or finished", d.rec.DeployID)
	}
	err := d.sync(ctx, progress)
	if err == nil {
		d.synced = true
		return d.e.step("synced", "")
	}
	err = fmt.Errorf("sync deploy %s: %w", d.rec.DeployID, err)
	if uerr := d.Undo(context.WithoutCancel(ctx)); uerr != nil {
		return errors.Join(err, uerr)
	}
	return err
}

func (d *Deploy) sync(ctx context.Context, progress func(Progress)) error {
	e, rec := d.e, &d.rec
	ws, err := os.OpenRoot(d.plan.Workspace)
	if err != nil {
		return fmt.Errorf("open workspace: %w", err)
	}
	defer ws.Close()
	prod, err := os.OpenRoot(rec.Production)
	if err != nil {
		return fmt.Errorf("open production: %w", err)
	}
	defer prod.Close()

	touchedDirs := map[string]struct{}{}
	mark := func(rel string) { touchedDirs[path.Dir(rel)] = struct{}{} }
	for _, rel := range rec.Deleted {
		if err := prod.Remove(rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return &FileError{Op: "delete", Path: rel, Err: err}
		}
		mark(rel)
		if err := e.step("delete", rel); err != nil {
			return &FileError{Op: "delete", Path: rel, Err: err}
		}
	}
	for _, dir := range rec.RemovedDirs {
		if err := prod.Remove(dir.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return &FileError{Op: "remove directory", Path: dir.Path, Err: err}
		}
		mark(dir.Path)
	}
	for _, m := range d.plan.mkdirs {
		if err := makeDir(prod, m); err != nil {
			return &FileError{Op: "create directory", Path: m.rel, Err: err}
		}
		mark(m.rel)
		if err := e.step("mkdir", m.rel); err != nil {
			return &FileError{Op: "create directory", Path: m.rel, Err: err}
		}
	}
	jobs := writeJobs(d.plan.writes, tempNames(rec))
	for _, j := range jobs {
		touchedDirs[j.dir] = struct{}{}
	}
	if err := d.copyFiles(ctx, ws, prod, jobs, progress); err != nil {
		return err
	}
	for _, t := range d.plan.touched {
		if err := prod.Chtimes(t.rel, time.Time{}, t.mtime); err != nil {
			return &FileError{Op: "set mtime", Path: t.rel, Err: err}
		}
	}
	dirs := make([]string, 0, len(touchedDirs))
	for dir := range touchedDirs {
		dirs = append(dirs, dir)
	}
	return parallel(ctx, e.workers, dirs, func(dir string) error {
		// A directory gone by now was one the deploy removed.
		if err := syncDirIn(prod, dir); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return &FileError{Op: "sync directory", Path: dir, Err: err}
		}
		return nil
	})
}

// makeDir creates a directory of the plan with the workspace's mode (and owner, as root).
func makeDir(prod *os.Root, m entry) error {
	if err := prod.Mkdir(m.rel, 0o700); err != nil {
		if !errors.Is(err, fs.ErrExist) {
			return err
		}
		// Made since the plan, so Begin left it out of the record; use it as it is.
		if fi, serr := prod.Lstat(m.rel); serr != nil || !fi.IsDir() {
			return err
		}
		return nil
	}
	if uid, gid, ok := ownerToKeep(m.sys); ok {
		if err := prod.Lchown(m.rel, uid, gid); err != nil {
			return err
		}
	}
	return prod.Chmod(m.rel, m.mode&permBits)
}

// tempNames gives each file the deploy writes a temporary name that Undo can find
// again: its index among Added then Overwritten.
func tempNames(rec *Record) map[string]string {
	names := make(map[string]string, len(rec.Added)+len(rec.Overwritten))
	i := 0
	for _, list := range [][]string{rec.Added, rec.Overwritten} {
		for _, rel := range list {
			names[rel] = tempName(rec.DeployID, "w", i)
			i++
		}
	}
	return names
}

func tempName(deployID, kind string, i int) string {
	return ".scar-" + deployID + "-" + kind + strconv.Itoa(i) + ".tmp"
}

// writeJob is a batch of files of one directory, so a worker opens the directory once
// and a large directory still spreads over several workers.
type writeJob struct {
	dir   string
	files []fileWrite
}

type fileWrite struct {
	entry
	name, temp string
}

const filesPerJob = 32

func writeJobs(writes []entry, temps map[string]string) []writeJob {
	var jobs []writeJob
	index := map[string]int{} // dir → its last, unfilled job
	for _, w := range writes {
		dir, name := path.Dir(w.rel), path.Base(w.rel)
		i, ok := index[dir]
		if !ok || len(jobs[i].files) == filesPerJob {
			jobs = append(jobs, writeJob{dir: dir})
			i = len(jobs) - 1
			index[dir] = i
		}
		jobs[i].files = append(jobs[i].files, fileWrite{entry: w, name: name, temp: temps[w.rel]})
	}
	return jobs
}

func (d *Deploy) copyFiles(ctx context.Context, ws, prod *os.Root, jobs []writeJob, progress func(Progress)) error {
	var mu sync.Mutex
	p := Progress{FilesTotal: len(d.plan.writes), BytesTotal: d.plan.Bytes}
	if progress != nil {
		progress(p)
	}
	return parallel(ctx, d.e.workers, jobs, func(j writeJob) error {
		wsDir, err := ws.OpenRoot(j.dir)
		if err != nil {
			return &FileError{Op: "read", Path: j.dir, Err: err}
		}
		defer wsDir.Close()
		prodDir, err := prod.OpenRoot(j.dir)
		if err != nil {
			return &FileError{Op: "write", Path: j.dir, Err: err}
		}
		defer prodDir.Close()
		for _, f := range j.files {
			if err := ctx.Err(); err != nil {
				return err
			}
			n, err := d.writeOne(wsDir, prodDir, f)
			if err != nil {
				return &FileError{Op: "write", Path: f.rel, Err: err}
			}
			mu.Lock()
			p.FilesDone++
			p.BytesDone += n
			if progress != nil {
				progress(p)
			}
			mu.Unlock()
		}
		return nil
	})
}

// writeOne writes one file or symlink under its temporary name and renames it over
// its target. The workspace file is read as it is now (a change since the plan is
// deployed; a file that vanished fails the sync).
func (d *Deploy) writeOne(wsDir, prodDir *os.Root, f fileWrite) (int64, error) {
	var n int64
	switch f.kind {
	case kindSymlink:
		target, err := wsDir.Readlink(f.name)
		if err != nil {
			return 0, err
		}
		if target != f.target {
			return 0, fmt.Errorf("symlink changed since the plan (now to %s); plan again", target)
		}
		if err := writeSymlink(prodDir, f.temp, target, f.sys); err != nil {
			return 0, err
		}
	default:
		src, err := wsDir.Open(f.name)
		if err != nil {
			return 0, err
		}
		defer src.Close()
		fi, err := src.Stat()
		if err != nil {
			return 0, err
		}
		if !fi.Mode().IsRegular() {
			return 0, fmt.Errorf("not a regular file any more; plan again")
		}
		var strip fs.FileMode
		if d.plan.stripSetid {
			strip = setidBits
		}
		sum := sha256.New()
		if n, err = writeFile(prodDir, f.temp, src, fi, strip, sum); err != nil {
			return 0, err
		}
		d.wroteHash(f.rel, hex.EncodeToString(sum.Sum(nil)))
	}
	if err := d.e.step("write", f.rel); err != nil {
		prodDir.Remove(f.temp)
		return 0, err
	}
	if err := prodDir.Rename(f.temp, f.name); err != nil {
		prodDir.Remove(f.temp)
		return 0, err
	}
	return n, d.e.step("rename", f.rel)
}

// wroteHash records the hash of a file the sync wrote, for the manifest.
func (d *Deploy) wroteHash(rel, h string) {
	d.hashMu.Lock()
	defer d.hashMu.Unlock()
	if d.written == nil {
		d.written = map[string]string{}
	}
	d.written[rel] = h
}
