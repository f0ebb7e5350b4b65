package dockerops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/scar-dev/scar/deployments"
	"github.com/scar-dev/scar/store"
)

// Recover runs at start, before scar serves: it undoes every deploy a crash left
// half done — files, image names and containers — and records those deploys as
// failed. Deploys recorded as running that never touched production are closed too.
func (s *Service) Recover(ctx context.Context) error {
	if s.files == nil {
		return nil
	}
	recs, ferr := s.files.Recover(ctx)
	var errs []error
	if ferr != nil {
		errs = append(errs, ferr)
	}
	for _, rec := range recs {
		msg := "scar stopped during the " + rec.Kind + "; production files restored at the next start"
		if rec.Kind == deployments.KindDeploy {
			if err := s.recoverContainers(ctx, rec); err != nil {
				errs = append(errs, fmt.Errorf("recover deploy %s of %s: %w", rec.DeployID, rec.Project, err))
				msg += "; putting the containers back failed: " + err.Error()
			} else {
				msg = "scar stopped during the deploy; production (files, images, containers) restored at the next start"
			}
		}
		s.closeRun(ctx, rec.DeployID, DeployFailedRolledBack, msg)
	}
	running, err := s.history.Running(ctx)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, d := range running {
		status, msg := DeployFailedRolledBack, "scar stopped before the "+d.Kind+" changed production"
		if backups, err := s.files.Backups(d.Project); err == nil && len(backups) > 0 && backups[0].DeployID == d.ID {
			status, msg = DeploySuccess, "scar stopped after the deploy had succeeded"
		}
		s.closeRun(ctx, d.ID, status, msg)
	}
	return errors.Join(errs...)
}

// recoverContainers puts a crashed deploy's images and containers back from its note.
func (s *Service) recoverContainers(ctx context.Context, rec deployments.Record) error {
	raw := rec.Notes[noteKey]
	if raw == "" {
		return nil
	}
	var note journalNote
	if err := json.Unmarshal([]byte(raw), &note); err != nil {
		return err
	}
	p, err := s.projects.Resolve(rec.Project)
	if err != nil {
		return err
	}
	swaps := make([]swap, len(note.Swaps))
	for i, n := range note.Swaps {
		swaps[i] = swap{name: n.Name, oldID: n.OldID, newID: n.NewID, wasRunning: n.WasRunning}
	}
	if err := s.restoreImages(ctx, note.Images); err != nil {
		return err
	}
	if note.Stage == StageApply || note.Stage == StageHealth {
		return s.reapply(ctx, p, &note, swaps)
	}
	return nil
}

func (s *Service) closeRun(ctx context.Context, id, status, msg string) {
	now := s.now()
	if err := s.history.AddEvent(ctx, id, store.EventRecord{At: now, Stage: StageFailed, Message: msg}); err != nil {
		s.logger.Warn("recording a recovered deploy", "deploy", id, "error", err)
	}
	rec := store.DeploymentRecord{ID: id, FinishedAt: now, Status: status}
	if status != DeploySuccess {
		rec.Error, rec.FailedStep = msg, "interrupted"
	}
	if err := s.history.FinishDeployment(ctx, rec); err != nil {
		s.logger.Warn("recording a recovered deploy", "deploy", id, "error", err)
	}
}
