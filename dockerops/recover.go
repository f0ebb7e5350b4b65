package dockerops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/scar-dev/scar/deployments"
	"github.com/scar-dev/scar/store"
)

// Recover runs at start, before scar serves: it undoes every deploy a crash left
// half done — files, image names and containers — and records those deploys as
// failed. Deploys recorded as running that never touched production are closed too.
//
// The files come back at once. A deploy's journal is kept until its images and
// containers are back too: when Docker does not answer, its project is locked as
// "recovering" (a deploy, rollback or restart of it is answered busy) and the rest is
// retried in the background, with a growing wait, until Docker answers or Shutdown;
// a journal left then is taken up again at the next start. A deploy is recorded
// failed_rolled_back once all of it is back, rollback_failed only when putting the
// containers back failed with Docker answering.
func (s *Service) Recover(ctx context.Context) error {
	if s.files == nil {
		return nil
	}
	recs, ferr := s.files.RecoverFiles(ctx)
	var errs []error
	if ferr != nil {
		errs = append(errs, ferr)
	}
	if err := s.endStaleBakes(ctx); err != nil {
		errs = append(errs, err)
	}
	waiting := map[string]bool{} // deploy ids whose containers wait for Docker
	var retry []deployments.Record
	for _, rec := range recs {
		if rec.Kind != deployments.KindDeploy {
			s.closeRun(ctx, rec.DeployID, DeployFailedRolledBack, "scar stopped during the "+rec.Kind+"; production files restored at the next start")
			continue
		}
		end := s.watcher.Quiet(rec.Project)
		err := s.recoverContainers(ctx, rec)
		end()
		if err != nil && s.dockerAway(ctx, err) {
			waiting[rec.DeployID] = true
			retry = append(retry, rec)
			continue
		}
		if rerr := s.finishRecovery(ctx, rec, err); rerr != nil {
			errs = append(errs, rerr)
		}
	}
	s.recoverLater(retry)
	running, err := s.history.Running(ctx)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, d := range running {
		if waiting[d.ID] {
			continue
		}
		status, msg := DeployFailedRolledBack, "scar stopped before the "+d.Kind+" changed production"
		if backups, err := s.files.Backups(d.Project); err == nil && len(backups) > 0 && backups[0].DeployID == d.ID {
			status, msg = DeploySuccess, "scar stopped after the deploy had succeeded"
		}
		s.closeRun(ctx, d.ID, status, msg)
	}
	return errors.Join(errs...)
}

// finishRecovery records how putting a crashed deploy's containers back ended
// (cerr) and forgets its journal: the deploy is over either way.
func (s *Service) finishRecovery(ctx context.Context, rec deployments.Record, cerr error) error {
	var errs []error
	if cerr != nil {
		errs = append(errs, fmt.Errorf("recover deploy %s of %s: %w", rec.DeployID, rec.Project, cerr))
		s.closeRun(ctx, rec.DeployID, DeployRollbackFailed,
			"scar stopped during the deploy; production files restored at the next start, putting the containers back failed: "+cerr.Error())
	} else {
		s.closeRun(ctx, rec.DeployID, DeployFailedRolledBack,
			"scar stopped during the deploy; production (files, images, containers) restored at the next start")
	}
	if err := s.files.Forget(ctx, rec); err != nil {
		errs = append(errs, fmt.Errorf("recover deploy %s of %s: %w", rec.DeployID, rec.Project, err))
	} else if cerr == nil {
		// Its backup is gone: so goes its rollback tag.
		if p, err := s.projects.Resolve(rec.Project); err == nil {
			if err := s.pruneRollbackTags(ctx, p); err != nil {
				s.logger.Warn("removing old rollback tags", "project", rec.Project, "error", err)
			}
		}
	}
	return errors.Join(errs...)
}

// dockerAway reports whether err came from Docker not answering rather than from
// Docker refusing: the engine's own calls say so, the Compose tool does not, so the
// engine is asked.
func (s *Service) dockerAway(ctx context.Context, err error) bool {
	if errors.Is(err, ErrDockerUnavailable) {
		return true
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return s.Ping(pctx) != nil
}

// Recovery retry waits: the first, doubling up to the cap, each with up to a fifth
// of jitter so that many scars on one host do not knock together.
const (
	recoveryRetryFirst = time.Second
	recoveryRetryMax   = 30 * time.Second
)

// recoverLater locks the projects of recs as "recovering" and puts their containers
// back in the background once Docker answers. s.recovery owns the goroutines:
// Shutdown stops them and waits.
func (s *Service) recoverLater(recs []deployments.Record) {
	byProject := map[string][]deployments.Record{}
	var order []string
	for _, rec := range recs {
		if _, ok := byProject[rec.Project]; !ok {
			order = append(order, rec.Project)
		}
		byProject[rec.Project] = append(byProject[rec.Project], rec)
	}
	for _, project := range order {
		unlock, err := s.lockQuiet(project, OpRecover, Actor{Name: "scar"})
		if err != nil {
			// Nothing runs before Recover; a lock held now is a caller's mistake.
			s.logger.Error("locking a project to recover it", "project", project, "error", err)
			continue
		}
		pending := byProject[project]
		s.logger.Warn("Docker does not answer: the project stays locked as recovering until its containers are back",
			"project", project, "deploys", len(pending))
		s.recovery.wg.Go(func() {
			defer unlock()
			s.retryRecovery(s.recovery.ctx, pending)
		})
	}
}

// retryRecovery puts each deploy's images and containers back, waiting for Docker
// between tries, until all are back or ctx ends (their journals then stay).
func (s *Service) retryRecovery(ctx context.Context, recs []deployments.Record) {
	wait := recoveryRetryFirst
	for len(recs) > 0 {
		jitter := time.Duration(rand.Int64N(int64(wait)/5 + 1))
		select {
		case <-ctx.Done():
			s.logger.Warn("stopped recovering: the interrupted deploys stay journaled for the next start", "project", recs[0].Project)
			return
		case <-time.After(wait + jitter):
		}
		wait = min(2*wait, recoveryRetryMax)
		rec := recs[0]
		err := s.recoverContainers(ctx, rec)
		if err != nil && (ctx.Err() != nil || s.dockerAway(ctx, err)) {
			continue
		}
		if err == nil {
			s.logger.Info("Docker is back: an interrupted deploy's containers are restored", "project", rec.Project, "deploy", rec.DeployID)
		}
		if ferr := s.finishRecovery(ctx, rec, err); ferr != nil {
			s.logger.Error("recovering an interrupted deploy", "project", rec.Project, "deploy", rec.DeployID, "error", ferr)
		}
		recs, wait = recs[1:], recoveryRetryFirst
	}
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

// stopRecovery ends the recoveries waiting for Docker and waits for them; their
// journals stay for the next start.
func (s *Service) stopRecovery() {
	s.recovery.cancel()
	s.recovery.wg.Wait()
}
