package deployments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
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
	if err := os.RemoveAll(rec.BackupDir); err != nil {
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
	backup, err := os.OpenRoot(filepath.Join(rec.BackupDir, backupFiles))
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

// Backup is a kept backup of a successful deploy.
type Backup struct {
	DeployID    string    `json:"deploy_id"`
	Project     string    `json:"project"`
	CommittedAt time.Time `json:"committed_at"`
}

// Backups lists the kept backups of a project, newest first.
func (e *Engine) Backups(project string) ([]Backup, error) {
	if !validName(project) {
		return nil, fmt.Errorf("list backups: project name %q cannot name a directory", project)
	}
	kept, _, err := e.scanBackups(project)
	if err != nil {
		return nil, fmt.Errorf("list backups of %s: %w", project, err)
	}
	out := make([]Backup, len(kept))
	for i, k := range kept {
		out[i] = Backup{DeployID: k.deployID, Project: project, CommittedAt: k.committedAt}
	}
	return out, nil
}

// backupRef is a kept backup found on disk; committedAt is its deploy.json's mtime.
type backupRef struct {
	deployID    string
	committedAt time.Time
}

// scanBackups lists a project's backup directories: the kept ones newest first, and
// the ids of those without deploy.json (a deploy in progress, or left by a crash).
// It reads no deploy.json, which can be large, only their mtimes.
func (e *Engine) scanBackups(project string) (kept []backupRef, unkept []string, err error) {
	root := filepath.Join(e.stateDir, "backups", project)
	ents, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	for _, ent := range ents {
		if !ent.IsDir() {
			continue
		}
		fi, err := os.Stat(filepath.Join(root, ent.Name(), keptFile))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			unkept = append(unkept, ent.Name())
		case err != nil:
			return nil, nil, err
		default:
			kept = append(kept, backupRef{deployID: ent.Name(), committedAt: fi.ModTime()})
		}
	}
	slices.SortFunc(kept, func(a, b backupRef) int {
		if c := b.committedAt.Compare(a.committedAt); c != 0 {
			return c
		}
		return strings.Compare(b.deployID, a.deployID)
	})
	return kept, unkept, nil
}

func (e *Engine) readKept(project, deployID string) (*keptBackup, error) {
	data, err := os.ReadFile(filepath.Join(e.backupDir(project, deployID), keptFile))
	if err != nil {
		return nil, err
	}
	var k keptBackup
	if err := json.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("read backup %s: %w", deployID, err)
	}
	return &k, nil
}

// prune removes the kept backups of a project beyond the newest Keep.
func (e *Engine) prune(project string) error {
	kept, _, err := e.scanBackups(project)
	if err != nil {
		return fmt.Errorf("prune backups: %w", err)
	}
	for _, k := range kept[min(e.keep, len(kept)):] {
		if err := os.RemoveAll(e.backupDir(project, k.deployID)); err != nil {
			return fmt.Errorf("prune backups: %w", err)
		}
		e.log.Info("removed old deploy backup", "project", project, "deploy", k.deployID)
	}
	return nil
}

// Rollback undoes the last successful deploy of a project from its kept backup —
// undo names it, or "" for the newest — and returns that deploy's record. The
// rollback is journaled under rollbackID: a crash in the middle is finished by the
// next start's Recover. Its backup is removed after, so the next Rollback undoes the
// deploy before it.
func (e *Engine) Rollback(ctx context.Context, project, undo, rollbackID string) (Record, error) {
	if !validName(project) || !validName(rollbackID) {
		return Record{}, fmt.Errorf("rollback %s: bad project name or rollback id %q", project, rollbackID)
	}
	kept, _, err := e.scanBackups(project)
	if err != nil {
		return Record{}, fmt.Errorf("rollback %s: %w", project, err)
	}
	if len(kept) == 0 {
		return Record{}, fmt.Errorf("rollback %s: %w", project, ErrNoBackup)
	}
	if undo != "" && undo != kept[0].deployID {
		return Record{}, fmt.Errorf("rollback %s: deploy %s is not the last one (%s is): %w", project, undo, kept[0].deployID, ErrNoBackup)
	}
	last, err := e.readKept(project, kept[0].deployID)
	if err != nil {
		return Record{}, fmt.Errorf("rollback %s: %w", project, err)
	}
	rb := &Record{Kind: KindRollback, DeployID: rollbackID, Project: project, Production: last.Production,
		BackupDir: last.BackupDir, CreatedAt: time.Now(), Undoes: last.DeployID}
	if err := e.putJournal(ctx, rb); err != nil {
		return Record{}, fmt.Errorf("rollback %s: %w", project, err)
	}
	if err := e.finishRollback(ctx, rb, last); err != nil {
		return Record{}, fmt.Errorf("rollback %s of %s: %w", rollbackID, last.DeployID, err)
	}
	return last.Record, nil
}

// finishRollback restores the undone deploy's backup, puts the manifest back and
// forgets the backup and the rollback's journal.
func (e *Engine) finishRollback(ctx context.Context, rb *Record, undone *keptBackup) error {
	if err := e.restore(ctx, &undone.Record); err != nil {
		return err
	}
	// Repeating this after a crash finds the manifest already put back and changes
	// nothing: the entries to drop are gone, those to restore there.
	now, err := e.loadManifest(undone.Project)
	if err != nil {
		return err
	}
	if err := e.saveManifest(undone.Project, previousManifest(now, undone)); err != nil {
		return err
	}
	if err := os.RemoveAll(undone.BackupDir); err != nil {
		return fmt.Errorf("remove backup: %w", err)
	}
	return e.journal.DeleteJournal(ctx, rb.DeployID)
}

// Recover is run at start, before any deploy: it undoes every deploy a crash left
// journaled, finishes every rollback a crash interrupted, and removes backups no
// deploy will use. It returns the records it recovered — the caller marks those
// deploys failed (and undoes what its notes name). A journal that cannot be recovered
// stays for the next start and is in the error.
func (e *Engine) Recover(ctx context.Context) ([]Record, error) {
	journals, err := e.journal.Journals(ctx)
	if err != nil {
		return nil, fmt.Errorf("recover: %w", err)
	}
	var done []Record
	var errs []error
	open := map[string]struct{}{}
	for _, j := range journals {
		var rec Record
		if err := json.Unmarshal(j.Data, &rec); err != nil {
			errs = append(errs, fmt.Errorf("recover %s: read journal: %w", j.DeployID, err))
			open[j.DeployID] = struct{}{}
			continue
		}
		if err := e.recoverOne(ctx, &rec); err != nil {
			errs = append(errs, fmt.Errorf("recover %s %s of %s: %w", rec.Kind, rec.DeployID, rec.Project, err))
			open[rec.DeployID] = struct{}{}
			continue
		}
		e.log.Warn("recovered an interrupted "+rec.Kind, "project", rec.Project, "deploy", rec.DeployID)
		done = append(done, rec)
	}
	if err := e.removeOrphans(open); err != nil {
		errs = append(errs, fmt.Errorf("recover: %w", err))
	}
	return done, errors.Join(errs...)
}

func (e *Engine) recoverOne(ctx context.Context, rec *Record) error {
	if rec.Kind != KindRollback {
		return e.undo(ctx, rec)
	}
	undone, err := e.readKept(rec.Project, rec.Undoes)
	if errors.Is(err, fs.ErrNotExist) {
		// The rollback got as far as removing the backup.
		return e.journal.DeleteJournal(ctx, rec.DeployID)
	}
	if err != nil {
		return err
	}
	return e.finishRollback(ctx, rec, undone)
}

// removeOrphans removes backup directories without deploy.json whose deploy has no
// open journal: a crash during Begin, before production was touched.
func (e *Engine) removeOrphans(open map[string]struct{}) error {
	ents, err := os.ReadDir(filepath.Join(e.stateDir, "backups"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, ent := range ents {
		if !ent.IsDir() {
			continue
		}
		_, unkept, err := e.scanBackups(ent.Name())
		if err != nil {
			return err
		}
		for _, id := range unkept {
			if _, ok := open[id]; ok {
				continue
			}
			if err := os.RemoveAll(e.backupDir(ent.Name(), id)); err != nil {
				return err
			}
			e.log.Info("removed an unfinished deploy's backup", "project", ent.Name(), "deploy", id)
		}
	}
	return nil
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
