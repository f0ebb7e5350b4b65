package dockerops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/scar-dev/scar/deployments"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// PlanRollback returns the deploy a rollback of the project would undo: its last
// successful deploy whose backup is kept. ErrNotFound when there is none.
func (s *Service) PlanRollback(ctx context.Context, project string) (*Deployment, error) {
	p, err := s.projects.Resolve(project)
	if err != nil {
		return nil, err
	}
	return s.lastDeploy(ctx, p)
}

func (s *Service) lastDeploy(ctx context.Context, p *projects.Project) (*Deployment, error) {
	if s.files == nil {
		return nil, errors.New("deploys are not configured")
	}
	backups, err := s.files.Backups(p.Name)
	if err != nil {
		return nil, fmt.Errorf("rollback of %s: %w", p.Name, err)
	}
	if len(backups) == 0 {
		return nil, fmt.Errorf("nothing to roll back in %s: no successful deploy with a kept backup: %w", p.Name, ErrNotFound)
	}
	rec, err := s.history.Deployment(ctx, backups[0].DeployID)
	if errors.Is(err, store.ErrNotFound) {
		return &Deployment{ID: backups[0].DeployID, Project: p.Name, Kind: KindDeploy, Status: DeploySuccess, FinishedAt: backups[0].CommittedAt}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rollback of %s: %w", p.Name, err)
	}
	d := fromRecord(rec)
	return &d, nil
}

// Rollback starts undoing the project's last successful deploy — its files from the
// backup, its images from their kept tags, its containers — and returns the
// rollback's record at once, like Deploy.
func (s *Service) Rollback(ctx context.Context, project string, who Actor, progress Progress) (*Deployment, error) {
	return s.launch(ctx, project, OpRollback, who, progress, func(p *projects.Project) (*launchSpec, error) {
		last, err := s.lastDeploy(ctx, p)
		if err != nil {
			return nil, err
		}
		plan := last.Plan
		if p.IsGit() {
			// What the rollback puts back: the commit production ran before last.
			plan.Commit, plan.PromotedFrom = nil, ""
			if plan.Commit, _, err = s.runningCommit(ctx, p.Name, last.StartedAt); err != nil {
				return nil, err
			}
		}
		return &launchSpec{kind: KindRollback, plan: plan, undoes: last.ID,
			work: func(ctx context.Context, r *run) string { return s.runRollback(ctx, r, last.ID) }}, nil
	})
}

func (s *Service) runRollback(ctx context.Context, r *run, undo string) (status string) {
	p := r.p
	// A rollback is the way back: it runs to its end even when scar is shutting down.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	defer func() {
		if rec := recover(); rec != nil {
			s.logger.Error("panic in a rollback", "rollback", r.rec.ID, "panic", rec)
			r.event(StageFailed, "", fmt.Sprintf("internal error: %v", rec))
			r.finish(DeployRollbackFailed, StageRollback, fmt.Errorf("internal error: %v", rec), nil)
			status = DeployRollbackFailed
		}
	}()
	if step, failed, err := s.undoCommitted(ctx, r, undo); err != nil {
		r.event(StageFailed, "", fmt.Sprintf("rollback failed at %s: %v", step, err))
		r.finish(DeployRollbackFailed, step, err, s.logTail(ctx, failed, 20))
		return DeployRollbackFailed
	}
	return s.rolledBack(ctx, r, p, undo)
}

// undoCommitted puts back what the successful deploy undo did — its files from the
// backup, its images from their kept tags, its containers — reporting on r. It is
// the undo of an asked-for rollback and of a deploy whose bake failed (bake.go). On
// failure it says at which step and, when the gate failed, on which container.
func (s *Service) undoCommitted(ctx context.Context, r *run, undo string) (string, *member, error) {
	p := r.p
	fail := func(step string, err error, failed *member) (string, *member, error) {
		return step, failed, err
	}

	r.event(StageSync, "", "restoring the files deploy "+undo+" changed")
	var rec deployments.Record
	err := r.stage(StageSync, func() (err error) {
		rec, err = s.files.Rollback(ctx, p.Name, undo, r.rec.ID)
		return err
	})
	if err != nil {
		return fail(StageSync, err, nil)
	}
	var note journalNote
	if raw := rec.Notes[noteKey]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &note); err != nil {
			return fail(StageApply, fmt.Errorf("read what deploy %s did to the containers: %w", undo, err), nil)
		}
	}
	if len(note.Images) > 0 {
		r.event(StageBuild, "", "putting the previous images back")
		if err := s.restoreImages(ctx, note.Images); err != nil {
			return fail(StageBuild, err, nil)
		}
	}

	if note.Compose && note.Actions != nil {
		if len(servicesWith(note.Actions, ActionCreate, ActionRecreate, ActionRestart, ActionRemove)) > 0 {
			r.event(StageApply, "", "applying the previous version: "+undoMessage(note.Actions))
			if err := r.stage(StageApply, func() error { return s.reapplyServices(ctx, p, &note) }); err != nil {
				return fail(StageApply, err, nil)
			}
			r.event(StageHealth, "", "waiting for the containers to run and be healthy")
			dp := &dockerPlan{compose: true, actions: note.Actions, undone: true}
			var failed *member
			if err := r.stage(StageHealth, func() (err error) { failed, err = s.gate(ctx, p, dp, r.event3); return err }); err != nil {
				return fail(StageHealth, err, failed)
			}
		}
		if err := s.dropNewImages(ctx, note.Images); err != nil {
			s.logger.Warn("removing the images of a rolled-back deploy", "rollback", r.rec.ID, "error", err)
		}
		return "", nil, nil
	}
	dp := &dockerPlan{compose: note.Compose, targets: note.Targets, composeChanged: note.Recreated}
	var swaps []swap
	if note.Recreated || len(note.Restarted) > 0 {
		r.event(StageApply, "", "applying the previous version")
		ms, err := s.members(ctx, p)
		if err != nil {
			return fail(StageApply, err, nil)
		}
		for _, m := range ms {
			if !m.found() {
				continue
			}
			if dp.affects(m) {
				dp.recreate = append(dp.recreate, m)
			}
			if !note.Recreated && contains(note.Restarted, m.name) {
				dp.restart = append(dp.restart, m)
			}
		}
		err = r.stage(StageApply, func() error { return s.apply(ctx, p, dp, &swaps) })
		if err != nil {
			for _, sw := range swaps {
				_ = s.unswap(ctx, sw) // leave the containers as the rollback found them
			}
			return fail(StageApply, err, nil)
		}
		r.event(StageHealth, "", "waiting for the containers to run and be healthy")
		var failed *member
		if err := r.stage(StageHealth, func() (err error) { failed, err = s.gate(ctx, p, dp, r.event3); return err }); err != nil {
			return fail(StageHealth, err, failed)
		}
		if err := s.dropOld(ctx, swaps); err != nil {
			s.logger.Warn("removing replaced containers", "rollback", r.rec.ID, "error", err)
		}
	}
	return "", nil, nil
}

// rolledBack ends a successful rollback.
func (s *Service) rolledBack(ctx context.Context, r *run, p *projects.Project, undo string) string {
	if err := s.pruneRollbackTags(ctx, p); err != nil {
		s.logger.Warn("removing old rollback tags", "project", p.Name, "error", err)
	}
	r.event(StageDone, "", fmt.Sprintf("rolled back deploy %s in %s", undo, s.now().Sub(r.rec.StartedAt).Round(100*time.Millisecond)))
	r.finish(DeploySuccess, "", nil, nil)
	return DeploySuccess
}

// undoMessage says what putting a deploy's services back does to each.
func undoMessage(actions []ServiceAction) string {
	var parts []string
	for _, a := range []struct{ action, verb string }{
		{ActionCreate, "removing"}, {ActionRemove, "bringing back"}, {ActionRecreate, "recreating"}, {ActionRestart, "restarting"},
	} {
		if svcs := servicesWith(actions, a.action); len(svcs) > 0 {
			parts = append(parts, a.verb+" "+joinNames(svcs))
		}
	}
	return strings.Join(parts, "; ")
}
