package deployments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

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
	mf, err := e.loadManifestFile(undone.Project)
	if err != nil {
		return err
	}
	mf.Files = previousManifest(mf.Files, undone)
	if mf.Hashes == nil {
		mf.Hashes = map[string]string{}
	}
	previousHashes(mf.Hashes, undone.ManifestHashes)
	if err := e.saveManifest(undone.Project, mf); err != nil {
		return err
	}
	if err := os.RemoveAll(e.backupDir(undone.Project, undone.DeployID)); err != nil {
		return fmt.Errorf("remove backup: %w", err)
	}
	return e.journal.DeleteJournal(ctx, rb.DeployID)
}
