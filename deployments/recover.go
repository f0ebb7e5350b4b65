package deployments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Recover is run at start, before any deploy: it undoes every deploy a crash left
// journaled, finishes every rollback a crash interrupted, and removes backups no
// deploy will use. It returns the records it recovered — the caller marks those
// deploys failed (and undoes what its notes name). A journal that cannot be recovered
// stays for the next start and is in the error.
//
// Recover forgets each deploy once its files are back; a caller that has more to put
// back (images, containers) uses RecoverFiles and Forget, so that the journal stays
// until all of it is back.
func (e *Engine) Recover(ctx context.Context) ([]Record, error) {
	recs, err := e.RecoverFiles(ctx)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	done := recs[:0]
	for _, rec := range recs {
		if rec.Kind == KindDeploy {
			if ferr := e.Forget(ctx, rec); ferr != nil {
				errs = append(errs, ferr)
				continue
			}
		}
		done = append(done, rec)
	}
	return done, errors.Join(errs...)
}

// RecoverFiles is Recover for a caller with more to put back than files: each
// interrupted deploy's files are restored, but its journal and backup are kept — the
// record that the deploy is not undone yet survives another crash — until the caller
// has put back the rest and calls Forget. Interrupted rollbacks are finished and
// forgotten as with Recover. Restoring again, at the next start, changes nothing that
// is already back.
func (e *Engine) RecoverFiles(ctx context.Context) ([]Record, error) {
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
		if rec.Kind == KindDeploy {
			open[rec.DeployID] = struct{}{} // journaled until Forget
		}
		e.log.Warn("recovered the files of an interrupted "+rec.Kind, "project", rec.Project, "deploy", rec.DeployID)
		done = append(done, rec)
	}
	if err := e.removeOrphans(open); err != nil {
		errs = append(errs, fmt.Errorf("recover: %w", err))
	}
	return done, errors.Join(errs...)
}

// Forget drops the journal and the backup of a deploy RecoverFiles restored, once
// the caller has put back everything else it did.
func (e *Engine) Forget(ctx context.Context, rec Record) error {
	if !validName(rec.Project) || !validName(rec.DeployID) {
		return fmt.Errorf("forget deploy %q of %q: not usable as directory names", rec.DeployID, rec.Project)
	}
	if err := e.journal.DeleteJournal(ctx, rec.DeployID); err != nil {
		return fmt.Errorf("forget deploy %s: %w", rec.DeployID, err)
	}
	if err := os.RemoveAll(e.backupDir(rec.Project, rec.DeployID)); err != nil {
		return fmt.Errorf("forget deploy %s: remove backup: %w", rec.DeployID, err)
	}
	return nil
}

func (e *Engine) recoverOne(ctx context.Context, rec *Record) error {
	if rec.Kind != KindRollback {
		return e.restore(ctx, rec)
	}
	if !validName(rec.Project) || !validName(rec.Undoes) {
		return fmt.Errorf("journal names project %q, deploy %q: not usable as directory names", rec.Project, rec.Undoes)
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
