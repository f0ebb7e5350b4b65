package dockerops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/deployments"
	"github.com/scar-dev/scar/projects"
)

// undoTimeout bounds putting production back after a failed deploy. The undo runs on
// a context of its own: a deploy cancelled by shutdown must still be undone.
const undoTimeout = 5 * time.Minute

// journalNote is what a deploy journals beyond its files, so that an undo after a
// crash — and a later asked-for rollback — can put the containers back too.
type journalNote struct {
	Compose   bool        `json:"compose"`
	Targets   []string    `json:"targets"`
	Recreated bool        `json:"recreated"`
	Restarted []string    `json:"restarted,omitempty"`
	Images    []keptImage `json:"images,omitempty"`
	Swaps     []swapNote  `json:"swaps,omitempty"`
	Stage     string      `json:"stage"`
	// Actions are a Compose deploy's per-service actions; a note without them is from
	// before scar planned per service and is put back the old way.
	Actions []ServiceAction `json:"actions,omitempty"`
	// Removed are the containers of the services the deploy removes.
	Removed []removedNote `json:"removed,omitempty"`
}

// swapNote is a swap as journaled.
type swapNote struct {
	Name       string `json:"name"`
	OldID      string `json:"old_id"`
	NewID      string `json:"new_id,omitempty"`
	WasRunning bool   `json:"was_running"`
}

const noteKey = "docker"

// Deploy starts a deploy of the project's workspace to production and returns its
// record at once; the work goes on in the background, reporting each stage to
// progress. The final event's stage is StageDone or StageFailed. An empty plan
// returns a record with status nothing_to_do and runs nothing. The call fails when
// the project is busy, unknown, or the plan cannot be made, and — under a context from
// WithConfirmedPlan — with a *PlanChangedError when the plan is not the confirmed one.
func (s *Service) Deploy(ctx context.Context, project string, who Actor, progress Progress) (*Deployment, error) {
	return s.launch(ctx, project, OpDeploy, who, progress, func(p *projects.Project) (*launchSpec, error) {
		pl, err := s.plan(ctx, p)
		if err != nil {
			return nil, err
		}
		if want := ConfirmedPlanOf(ctx); want != "" && want != pl.api.Fingerprint {
			return nil, fmt.Errorf("deploy %s: %w", p.Name, &PlanChangedError{Confirmed: want, Plan: pl.api})
		}
		spec := &launchSpec{kind: KindDeploy, plan: pl.api, work: func(ctx context.Context, r *run) string { return s.runDeploy(ctx, r, pl) }}
		if pl.files.Empty() {
			s.metrics.DeploymentsTotal.WithLabelValues(p.Name, DeployNothingToDo).Inc()
			spec.nothingToDo = true
		}
		return spec, nil
	})
}

// launchSpec is what launch runs: a deploy or a rollback of a project.
type launchSpec struct {
	kind   string
	plan   DeployPlan
	undoes string
	// nothingToDo answers at once with status nothing_to_do and runs nothing.
	nothingToDo bool
	work        func(ctx context.Context, r *run) (status string)
}

// launch is what deploys and rollbacks share: the project's lock, the metrics, the
// record in the history, and the work in the background, where Shutdown waits for it.
// prepare runs under the lock.
func (s *Service) launch(ctx context.Context, project, op string, who Actor, progress Progress, prepare func(*projects.Project) (*launchSpec, error)) (*Deployment, error) {
	if s.files == nil {
		return nil, errors.New("deploys are not configured")
	}
	done := s.track(op)
	p, err := s.projects.Resolve(project)
	if err != nil {
		done("", true)
		return nil, err
	}
	unlock, err := s.lockQuiet(p.Name, op, who)
	if err != nil {
		done(p.Name, true)
		return nil, err
	}
	spec, err := prepare(p)
	if err == nil && spec.nothingToDo {
		unlock()
		done(p.Name, false)
		now := s.now()
		return &Deployment{Project: p.Name, Kind: spec.kind, Who: who.Name, StartedAt: now, FinishedAt: now, Status: DeployNothingToDo, Plan: spec.plan}, nil
	}
	var r *run
	if err == nil {
		r, err = s.start(ctx, p, spec.kind, who, spec.plan, spec.undoes, serialize(progress))
	}
	if err != nil {
		unlock()
		done(p.Name, true)
		return nil, err
	}
	r.unlock = unlock
	// It changes the project: a bake running on it ends.
	s.endBake(p.Name, op)
	first := r.snapshot()
	runCtx, release := s.cancellable(r)
	s.bg.wg.Go(func() {
		defer unlock()
		defer release()
		// The files changed (or were put back): pending_changes is computed afresh.
		defer s.filesChanged(p)
		status := spec.work(runCtx, r)
		done(p.Name, status != DeploySuccess)
		unlock()
		s.startBake(r, r.bake)
		s.notice(runCtx, r)
	})
	return &first, nil
}

// runDeploy does the deploy's stages and, when one fails, undoes what was done.
func (s *Service) runDeploy(ctx context.Context, r *run, pl *fullPlan) (status string) {
	p, dp, id := r.p, pl.docker, r.rec.ID
	note := journalNote{Compose: dp.compose, Targets: dp.targets, Recreated: dp.recreating(), Restarted: names(dp.restart),
		Actions: dp.actions, Removed: removedNotes(dp)}
	var (
		d     *deployments.Deploy
		swaps []swap
		step  string
	)
	defer func() {
		if rec := recover(); rec != nil {
			s.logger.Error("panic in a deploy", "deploy", id, "panic", rec)
			status = s.undoDeploy(r, d, dp, &note, swaps, step, fmt.Errorf("internal error: %v", rec), nil)
		}
	}()
	fail := func(err error, failed *member) string {
		return s.undoDeploy(r, d, dp, &note, swaps, step, err, failed)
	}
	journal := func(stage string) error {
		note.Stage = stage
		for _, sw := range swaps {
			if !containsSwap(note.Swaps, sw) {
				note.Swaps = append(note.Swaps, swapNote{Name: sw.name, OldID: sw.oldID, NewID: sw.newID, WasRunning: sw.wasRunning})
			}
		}
		b, _ := json.Marshal(note)
		return d.Note(ctx, noteKey, string(b))
	}

	step = StageBackup
	r.event(StageBackup, "", "backing up "+countOf(len(pl.files.Changed)+len(pl.files.Deleted), "production file"))
	err := r.timed(ctx, StageBackup, func(ctx context.Context) (err error) {
		d, err = s.files.Begin(ctx, id, pl.files)
		if err == nil {
			err = journal(StageBackup)
		}
		return err
	})
	if err != nil {
		return fail(err, nil)
	}
	s.afterStage(StageBackup)

	step = StageSync
	r.event(StageSync, "", fmt.Sprintf("syncing %s (%s)", countOf(len(pl.files.Added)+len(pl.files.Changed)+len(pl.files.Deleted), "file"), humanBytes(pl.files.Bytes)))
	if err := r.timed(ctx, StageSync, func(ctx context.Context) error { return d.Sync(ctx, nil) }); err != nil {
		return fail(err, nil)
	}
	s.afterStage(StageSync)

	if len(dp.build) > 0 {
		step = StageBuild
		r.event(StageBuild, "", "building "+joinNames(dp.build)+": "+dp.rebuildReason)
		err := r.timed(ctx, StageBuild, func(ctx context.Context) error {
			kept, err := s.keepImages(ctx, p, dp, id)
			if err != nil {
				return err
			}
			note.Images = kept
			if err := journal(StageBuild); err != nil {
				return err
			}
			err = s.build(ctx, p, dp)
			s.noteBuilt(ctx, p, note.Images)
			if jerr := journal(StageBuild); err == nil {
				err = jerr
			}
			return err
		})
		if err != nil {
			return fail(err, nil)
		}
		s.afterStage(StageBuild)
	}

	step = StageApply
	r.event(StageApply, "", applyMessage(dp))
	if err := r.timed(ctx, StageApply, func(ctx context.Context) error {
		if err := journal(StageApply); err != nil {
			return err
		}
		err := s.apply(ctx, p, dp, &swaps)
		if jerr := journal(StageApply); err == nil {
			err = jerr
		}
		return err
	}); err != nil {
		return fail(err, nil)
	}
	s.afterStage(StageApply)

	step = StageHealth
	r.event(StageHealth, "", "waiting for the containers to run and be healthy")
	var failed *member
	if err := r.timed(ctx, StageHealth, func(ctx context.Context) (err error) {
		failed, err = s.gate(ctx, p, dp, r.event3)
		return err
	}); err != nil {
		return fail(err, failed)
	}
	s.afterStage(StageHealth)

	if err := s.dropOld(ctx, swaps); err != nil {
		s.logger.Warn("removing replaced containers", "deploy", id, "error", err)
	}
	if err := s.dropRemoved(ctx, note.Removed); err != nil {
		s.logger.Warn("removing the containers of removed services", "deploy", id, "error", err)
	}
	if err := d.Commit(ctx); err != nil {
		// The containers run the new version and pass the gate; only the bookkeeping
		// failed. Undoing now would take down a healthy deploy.
		s.logger.Error("committing a healthy deploy", "deploy", id, "error", err)
	}
	if err := s.pruneRollbackTags(ctx, p); err != nil {
		s.logger.Warn("removing old rollback tags", "project", p.Name, "error", err)
	}
	r.bake = s.prepareBake(ctx, r)
	r.event(StageDone, "", fmt.Sprintf("deployed in %s", s.now().Sub(r.rec.StartedAt).Round(100*time.Millisecond)))
	r.finish(DeploySuccess, "", nil, nil)
	return DeploySuccess
}

// event3 adapts run.event to a Progress for the gate's per-container reports.
func (r *run) event3(e Event) { r.event(e.Stage, e.Container, e.Message) }

func containsSwap(list []swapNote, sw swap) bool {
	for _, n := range list {
		if n.Name == sw.name {
			return true
		}
	}
	return false
}

func applyMessage(dp *dockerPlan) string {
	if dp.actions != nil {
		return serviceApplyMessage(dp.actions)
	}
	switch {
	case dp.recreating():
		return "recreating " + joinNames(dp.targets)
	case len(dp.restart) > 0:
		return "restarting " + joinNames(names(dp.restart))
	default:
		return "no container uses the changed files: nothing to restart"
	}
}

// undoDeploy puts production back after a deploy failed at step: files, image names,
// containers; then checks that the old version runs again. It records the outcome.
func (s *Service) undoDeploy(r *run, d *deployments.Deploy, dp *dockerPlan, note *journalNote, swaps []swap, step string, cause error, failed *member) string {
	ctx, cancel := context.WithTimeout(context.Background(), undoTimeout)
	defer cancel()
	tail := s.logTail(ctx, failed, 20)
	status, verb := endOf(cause)
	r.event(StageRollback, "", fmt.Sprintf("%s %s: %v; rolling back", step, verb, cause))
	err := s.putBack(ctx, r.p, d, dp, note, swaps)
	dp.undone = true
	if err == nil && (step == StageApply || step == StageHealth) {
		// The old version must be serving again when the report goes out.
		_, err = s.gate(ctx, r.p, dp, r.event3)
		if err != nil {
			err = fmt.Errorf("the old version does not come back: %w", err)
		}
	}
	if err != nil {
		r.event(StageFailed, "", fmt.Sprintf("rollback failed: %v", err))
		r.finish(DeployRollbackFailed, step, fmt.Errorf("%v; rollback failed: %w", cause, err), tail)
		return DeployRollbackFailed
	}
	// The undone deploy's backup is gone, so its rollback tag names nothing to roll
	// back to: a failed deploy leaves no image name behind.
	if err := s.pruneRollbackTags(ctx, r.p); err != nil {
		s.logger.Warn("removing old rollback tags", "project", r.p.Name, "error", err)
	}
	r.event(StageFailed, "", fmt.Sprintf("%s at %s, rolled back: the previous version is running", verb, step))
	r.finish(status, step, cause, tail)
	return status
}

// putBack restores the files, then the images and the containers.
func (s *Service) putBack(ctx context.Context, p *projects.Project, d *deployments.Deploy, dp *dockerPlan, note *journalNote, swaps []swap) error {
	var errs []error
	if note.Compose && note.Actions != nil && (note.Stage == StageApply || note.Stage == StageHealth) {
		// The containers of created services go before the files: one restarting in a
		// loop would otherwise make its bind mounts' sources again (the Engine creates
		// a missing one) in the production directories the undo removes.
		if err := s.dropCreated(ctx, p, note); err != nil {
			errs = append(errs, err)
		}
	}
	if d != nil {
		if err := d.Undo(ctx); err != nil {
			errs = append(errs, fmt.Errorf("restore files: %w", err))
		}
	}
	if err := s.restoreImages(ctx, note.Images); err != nil {
		errs = append(errs, err)
	}
	if note.Stage == StageApply || note.Stage == StageHealth {
		if err := s.reapply(ctx, p, note, swaps); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.dropNewImages(ctx, note.Images); err != nil {
		s.logger.Warn("removing the images of an undone deploy", "project", p.Name, "error", err)
	}
	return errors.Join(errs...)
}

// reapply brings the containers back to the restored files and images.
func (s *Service) reapply(ctx context.Context, p *projects.Project, note *journalNote, swaps []swap) error {
	switch {
	case note.Compose && note.Actions != nil:
		err := s.reapplyServices(ctx, p, note)
		_ = s.dropNewImages(ctx, note.Images) // the containers no longer use them
		return err
	case note.Compose && note.Recreated:
		_, err := s.compose.Run(ctx, p.Production, p.ComposeProject, p.DockerHost, append([]string{"up", "-d", "--no-deps"}, note.Targets...)...)
		return err
	case note.Recreated:
		var errs []error
		for _, sw := range swaps {
			errs = append(errs, s.unswap(ctx, sw))
		}
		return errors.Join(errs...)
	default:
		ms, err := s.deployMembers(ctx, p)
		if err != nil {
			return err
		}
		var errs []error
		for _, m := range ms {
			if m.found() && contains(note.Restarted, m.name) {
				_, err := s.docker.ContainerRestart(ctx, m.summary.ID, client.ContainerRestartOptions{})
				errs = append(errs, engineError(err))
			}
		}
		return errors.Join(errs...)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func joinNames(ns []string) string {
	if len(ns) == 0 {
		return "nothing"
	}
	out := ns[0]
	for _, n := range ns[1:] {
		out += ", " + n
	}
	return out
}

// countOf says "1 file", "2 files".
func countOf(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// afterStage runs the test hook, if any, when a deploy stage has succeeded; tests
// use it to kill the process at each stage and check what the next start recovers.
func (s *Service) afterStage(stage string) {
	if s.stageHook != nil {
		s.stageHook(stage)
	}
}
