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
	"sync"
	"syscall"
	"time"
)

// Record kinds.
const (
	KindDeploy   = "deploy"
	KindRollback = "rollback"
)

// Record is what a deploy changes in production, everything needed to undo it. It is
// journaled before the first production write, and kept beside the backup after the
// deploy succeeded so that a rollback can undo it later.
type Record struct {
	Kind       string `json:"kind"`
	DeployID   string `json:"deploy_id"`
	Project    string `json:"project"`
	Production string `json:"production"`
	// BackupDir is where the backup was made (informational: scar finds a backup
	// under its current state directory).
	BackupDir string    `json:"backup_dir"`
	CreatedAt time.Time `json:"created_at"`
	// Added are written where production had no file (undo removes them).
	Added []string `json:"added"`
	// Overwritten are written over a file or symlink, which is in the backup.
	Overwritten []string `json:"overwritten"`
	// Deleted are removed (including files replaced by a directory); in the backup.
	Deleted []string `json:"deleted"`
	// Dirs are directories the deploy creates (undo removes them when empty).
	Dirs []string `json:"dirs"`
	// RemovedDirs are production directories removed to make room for a file.
	RemovedDirs []RemovedDir `json:"removed_dirs,omitempty"`
	// Touched get the workspace's mtime; undo sets their old one back.
	Touched []TouchedFile `json:"touched,omitempty"`
	// Undoes is, for a rollback, the deploy whose backup it restores.
	Undoes string `json:"undoes,omitempty"`
	// Notes are the caller's, kept with the journal (say, the image tag to restore).
	Notes map[string]string `json:"notes,omitempty"`
}

// RemovedDir is a production directory a deploy removed, and its mode.
type RemovedDir struct {
	Path string      `json:"path"`
	Mode fs.FileMode `json:"mode"`
}

// TouchedFile is a file whose mtime a deploy changed, and its old mtime.
type TouchedFile struct {
	Path  string    `json:"path"`
	MTime time.Time `json:"mtime"`
}

// keptBackup is deploy.json in a backup directory, written when the deploy succeeded
// (its mtime is when). A rollback undoes the deploy's change to the manifest with it.
type keptBackup struct {
	Record
	ManifestAdded   []string `json:"manifest_added"`
	ManifestRemoved []string `json:"manifest_removed"`
	// ManifestHashes are the manifest's hashes before the deploy of every path it
	// wrote or deleted ("" for none), put back by a rollback.
	ManifestHashes map[string]string `json:"manifest_hashes,omitempty"`
}

const (
	keptFile    = "deploy.json"
	backupFiles = "files" // the backed-up production files, under their relative paths
)

// Deploy is a deploy that has been backed up and journaled. Sync it, then Commit it
// or Undo it. Its methods are not for concurrent use.
type Deploy struct {
	e        *Engine
	rec      Record
	plan     *Plan
	synced   bool
	finished bool
	// written is the SHA-256 of each file the sync wrote, for the manifest.
	hashMu  sync.Mutex
	written map[string]string
}

// ID returns the deploy's id.
func (d *Deploy) ID() string { return d.rec.DeployID }

// Record returns what the deploy changes.
func (d *Deploy) Record() Record { return d.rec }

func (e *Engine) backupDir(project, deployID string) string {
	return filepath.Join(e.stateDir, "backups", project, deployID)
}

// Begin prepares the deploy of a plan: it copies every production file the plan
// overwrites or deletes into STATE_DIR/backups/<project>/<deployID>/ and journals the
// deploy. Production is not written (but created, empty, if it does not exist).
// deployID must be unique and usable as a file name.
func (e *Engine) Begin(ctx context.Context, deployID string, plan *Plan) (*Deploy, error) {
	if !validName(deployID) {
		return nil, fmt.Errorf("begin deploy: id %q cannot name a directory", deployID)
	}
	if plan.Empty() {
		return nil, fmt.Errorf("begin deploy %s: nothing to deploy", deployID)
	}
	dir := e.backupDir(plan.Project, deployID)
	if _, err := os.Lstat(dir); err == nil {
		return nil, fmt.Errorf("begin deploy %s: backup %s exists already", deployID, dir)
	}
	if err := os.MkdirAll(plan.Production, 0o755); err != nil {
		return nil, fmt.Errorf("begin deploy %s: create production: %w", deployID, err)
	}
	prod, err := os.OpenRoot(plan.Production)
	if err != nil {
		return nil, fmt.Errorf("begin deploy %s: open production: %w", deployID, err)
	}
	defer prod.Close()
	rec, err := recordOf(prod, deployID, plan)
	if err != nil {
		return nil, fmt.Errorf("begin deploy %s: %w", deployID, err)
	}
	rec.BackupDir = dir
	rec.CreatedAt = time.Now()
	if err := e.backup(ctx, prod, rec); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("begin deploy %s: %w", deployID, err)
	}
	if err := e.putJournal(ctx, rec); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("begin deploy %s: %w", deployID, err)
	}
	if err := e.step("journaled", ""); err != nil {
		return nil, err
	}
	return &Deploy{e: e, rec: *rec, plan: plan}, nil
}

// recordOf turns a plan into the record of what the deploy will do, checking that
// production is still as planned where that matters: a file that appeared since the
// plan is backed up like any overwritten one, a directory where a file goes is stale.
func recordOf(prod *os.Root, deployID string, p *Plan) (*Record, error) {
	rec := &Record{Kind: KindDeploy, DeployID: deployID, Project: p.Project, Production: p.Production,
		Added: []string{}, Overwritten: []string{}, Dirs: []string{}}
	for _, w := range p.writes {
		had := w.prod
		if had == kindNone {
			fi, err := prod.Lstat(w.rel)
			switch {
			case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
				// ENOTDIR: a parent is a file the deploy replaces by a directory.
			case err != nil:
				return nil, fmt.Errorf("check production %s: %w", w.rel, err)
			case fi.IsDir():
				return nil, fmt.Errorf("%s is a directory now: %w", w.rel, ErrStalePlan)
			default:
				had = kindOf(fi.Mode())
			}
		}
		if had == kindNone || had == kindDir {
			rec.Added = append(rec.Added, w.rel)
		} else {
			rec.Overwritten = append(rec.Overwritten, w.rel)
		}
	}
	for _, d := range p.mkdirs {
		fi, err := prod.Lstat(d.rel)
		switch {
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
			rec.Dirs = append(rec.Dirs, d.rel)
		case err != nil:
			return nil, fmt.Errorf("check production %s: %w", d.rel, err)
		case fi.IsDir():
			// Someone made it since the plan; it is not the deploy's to remove.
		case slices.Contains(p.replaced, d.rel):
			rec.Dirs = append(rec.Dirs, d.rel)
		default:
			return nil, fmt.Errorf("%s is a file now: %w", d.rel, ErrStalePlan)
		}
	}
	rec.Deleted = append(slices.Clone(p.Deleted), p.replaced...)
	slices.Sort(rec.Deleted)
	for _, d := range p.removedDirs {
		rec.RemovedDirs = append(rec.RemovedDirs, RemovedDir{Path: d.rel, Mode: d.mode & (permBits | fs.ModeDir)})
	}
	for _, t := range p.touched {
		rec.Touched = append(rec.Touched, TouchedFile{Path: t.rel, MTime: t.prodMtime})
	}
	return rec, nil
}

// backup copies what the deploy overwrites or deletes into the backup directory,
// keeping mode, mtime and (as root) owner, and syncs it before the journal points at it.
func (e *Engine) backup(ctx context.Context, prod *os.Root, rec *Record) error {
	files := filepath.Join(rec.BackupDir, backupFiles)
	if err := os.MkdirAll(files, 0o700); err != nil {
		return fmt.Errorf("create backup: %w", err)
	}
	dst, err := os.OpenRoot(files)
	if err != nil {
		return fmt.Errorf("create backup: %w", err)
	}
	defer dst.Close()
	todo := append(slices.Clone(rec.Overwritten), rec.Deleted...)
	var mkdirMu sync.Mutex // MkdirAll of sibling files may race on a shared parent
	err = parallel(ctx, e.workers, todo, func(rel string) error {
		if dir := path.Dir(rel); dir != "." {
			mkdirMu.Lock()
			err := dst.MkdirAll(dir, 0o700)
			mkdirMu.Unlock()
			if err != nil {
				return &FileError{Op: "backup", Path: rel, Err: err}
			}
		}
		if err := copyEntry(prod, dst, rel, rel); err != nil {
			return &FileError{Op: "backup", Path: rel, Err: err}
		}
		return e.step("backup", rel)
	})
	if err != nil {
		return err
	}
	return syncTree(files)
}

// syncTree syncs every directory of a freshly written tree, so the names in it are
// durable (the files were synced as they were written).
func syncTree(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return syncDir(p)
		}
		return nil
	})
}

func (e *Engine) putJournal(ctx context.Context, rec *Record) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if err := e.journal.PutJournal(ctx, rec.DeployID, rec.Project, data); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// Note records a key and value with the deploy's journal, returned by Recover if the
// deploy never finishes: for what the caller must undo beyond the files.
func (d *Deploy) Note(ctx context.Context, key, value string) error {
	if d.finished {
		return fmt.Errorf("note on deploy %s: it has finished", d.rec.DeployID)
	}
	if d.rec.Notes == nil {
		d.rec.Notes = map[string]string{}
	}
	d.rec.Notes[key] = value
	return d.e.putJournal(ctx, &d.rec)
}

// Commit finishes a deploy that succeeded: its backup is kept for Rollback, its
// journal dropped, the manifest updated, and backups beyond the newest Keep removed.
// An error means the deploy is not committed (Undo it). Once the journal is dropped
// the deploy stands, so a failure to update the manifest or prune old backups after
// that is logged, not returned.
func (d *Deploy) Commit(ctx context.Context) error {
	switch {
	case d.finished:
		return fmt.Errorf("commit deploy %s: it has finished", d.rec.DeployID)
	case !d.synced:
		return fmt.Errorf("commit deploy %s: not synced", d.rec.DeployID)
	}
	e := d.e
	mf, err := e.loadManifestFile(d.rec.Project)
	if err != nil {
		return fmt.Errorf("commit deploy %s: %w", d.rec.DeployID, err)
	}
	after, added, removed := nextManifest(mf.Files, &d.rec)
	if mf.Hashes == nil {
		mf.Hashes = map[string]string{}
	}
	d.hashMu.Lock()
	prevHashes := nextHashes(mf.Hashes, &d.rec, d.written)
	d.hashMu.Unlock()
	kept := keptBackup{Record: d.rec, ManifestAdded: added, ManifestRemoved: removed, ManifestHashes: prevHashes}
	data, err := json.Marshal(kept)
	if err != nil {
		return fmt.Errorf("commit deploy %s: %w", d.rec.DeployID, err)
	}
	if err := writeFileAtomic(filepath.Join(d.rec.BackupDir, keptFile), data); err != nil {
		return fmt.Errorf("commit deploy %s: keep backup: %w", d.rec.DeployID, err)
	}
	if err := e.step("kept", ""); err != nil {
		return err
	}
	// From here on the deploy stands. A crash before the manifest is written leaves
	// it short of this deploy's files: later deploys then delete less, never more.
	// Its hashes are lost too: a later plan may flag a file this deploy overwrote as
	// edited in production — a warning too many, never a file lost.
	if err := e.journal.DeleteJournal(ctx, d.rec.DeployID); err != nil {
		return fmt.Errorf("commit deploy %s: %w", d.rec.DeployID, err)
	}
	d.finished = true
	if err := e.step("unjournaled", ""); err != nil {
		return err
	}
	if len(added)+len(removed)+len(prevHashes) > 0 {
		mf.Files = after
		if err := e.saveManifest(d.rec.Project, mf); err != nil {
			e.log.Warn("deploy committed, its files not recorded in the manifest", "project", d.rec.Project, "deploy", d.rec.DeployID, "error", err)
		}
	}
	if err := e.prune(d.rec.Project); err != nil {
		e.log.Warn("deploy committed, old backups not pruned", "project", d.rec.Project, "deploy", d.rec.DeployID, "error", err)
	}
	return nil
}
