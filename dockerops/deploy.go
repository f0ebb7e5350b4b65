package dockerops

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/scar-dev/scar/deployments"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// Deploy stages, in order; StageDone and StageFailed end a deploy's events.
const (
	StagePlan     = "plan"
	StageBackup   = "backup"
	StageSync     = "sync"
	StageBuild    = "build"
	StageApply    = "apply"
	StageHealth   = "health"
	StageRollback = "rollback"
	StageDone     = "done"
	StageFailed   = "failed"
)

// History stores deploys and their events; *store.DB is one.
type History interface {
	CreateDeployment(ctx context.Context, d store.DeploymentRecord) error
	AddEvent(ctx context.Context, id string, e store.EventRecord) error
	FinishDeployment(ctx context.Context, d store.DeploymentRecord) error
	Deployment(ctx context.Context, id string) (*store.DeploymentRecord, error)
	Deployments(ctx context.Context, project, kind, status string, limit int) ([]store.DeploymentRecord, error)
	Running(ctx context.Context) ([]store.DeploymentRecord, error)
	SetBake(ctx context.Context, id, bake string) error
	EndBakes(ctx context.Context, bake string) (int, error)
}

var _ History = (*store.DB)(nil)

// WithDeploys enables deploys and rollbacks: builder makes images and containers,
// files plans and syncs project files, history records every deploy, compose runs
// the Compose tool.
func WithDeploys(builder Builder, files *deployments.Engine, history History, compose *Compose) Option {
	return func(s *Service) {
		s.builder, s.files, s.history, s.compose = builder, files, history, compose
	}
}

// WithIDs sets the source of deployment ids (tests make them predictable).
func WithIDs(next func() string) Option { return func(s *Service) { s.newID = next } }

// newDeployID is a sortable, unique id: the UTC time and 4 random bytes.
func newDeployID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return time.Now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b)
}

// background runs deploys after their caller has its answer; Shutdown waits for them.
type background struct {
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	cancels cancels
}

func newBackground() *background {
	ctx, cancel := context.WithCancel(context.Background())
	return &background{ctx: ctx, cancel: cancel}
}

// Shutdown stops the watches of projects' files (see pending_watch.go) and the
// recoveries waiting for Docker (their journals stay for the next
// start), then waits for running deploys and rollbacks to finish until ctx ends; those
// still running then are cancelled, which rolls them back, and waited for again: a
// rollback always runs to its end (or to the process's end, after which the journal
// finishes it at the next start).
func (s *Service) Shutdown(ctx context.Context) {
	// Last, so that a bake a finishing deploy starts is ended too.
	defer s.stopBakes()
	defer s.lean.close()
	s.pushes.close()
	s.stopWatches()
	s.stopRecovery()
	done := make(chan struct{})
	go func() { s.bg.wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	s.logger.Warn("deploys still running after the grace period: cancelling them, which rolls them back")
	s.bg.cancel()
	<-done
}

// PlanDeploy returns what a deploy of the project would do; nothing is changed.
func (s *Service) PlanDeploy(ctx context.Context, project string) (*DeployPlan, error) {
	p, err := s.projects.Resolve(project)
	if err != nil {
		return nil, err
	}
	if s.files == nil {
		return nil, errors.New("deploys are not configured")
	}
	if p.IsGit() {
		// The plan moves the project's checkout: not while a deploy reads it.
		unlock, err := s.locks.TryLock(p.Name, OpPlan, Actor{Name: "a plan"})
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	pl, err := s.plan(ctx, p)
	if err != nil {
		return nil, err
	}
	return &pl.api, nil
}

// fullPlan is both halves of a deploy's plan.
type fullPlan struct {
	api    DeployPlan
	files  *deployments.Plan
	docker *dockerPlan
}

func (s *Service) plan(ctx context.Context, p *projects.Project) (*fullPlan, error) {
	commit, err := s.checkoutFor(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("plan deploy of %s: %w", p.Name, err)
	}
	if err := firstDirProblem(p); err != nil {
		return nil, fmt.Errorf("plan deploy of %s: %w", p.Name, err)
	}
	// The file walk, the container list and `compose config` (process starts, about
	// 0.1 s with v2 and 0.5 s with v1) do not depend on each other: run them at once.
	// When the files say there is nothing to deploy, Compose's answer is not waited for.
	type composeAnswer struct {
		before composeView
		err    error
		// after is read at once when the workspace's Compose files differ from
		// production's by their bytes, as the files plan will then say (nil otherwise).
		after    *composeView
		afterErr error
	}
	target := composeTarget{workspace: p.Workspace, production: p.Production, project: p.ComposeProject, dockerHost: p.DockerHost}
	composeCtx, cancelCompose := context.WithCancel(ctx)
	defer cancelCompose()
	compose := make(chan composeAnswer, 1)
	if p.ComposeProject != "" {
		go func() {
			var a composeAnswer
			var wg sync.WaitGroup
			if composeFilesDiffer(target) {
				wg.Go(func() {
					after, err := s.afterView(composeCtx, target, composeView{}, true, false)
					a.after, a.afterErr = &after, err
				})
			}
			a.before, a.err = s.beforeView(composeCtx, target)
			wg.Wait()
			compose <- a
		}()
	} else {
		compose <- composeAnswer{}
	}
	var (
		wg    sync.WaitGroup
		ms    []*member
		msErr error
	)
	wg.Go(func() { ms, msErr = s.deployMembers(ctx, p) })
	files, err := s.filePlan(ctx, p)
	wg.Wait()
	if err != nil {
		if errors.Is(err, deployments.ErrRefused) {
			return nil, fmt.Errorf("plan deploy of %s: %w", p.Name, &inputError{msg: err.Error()})
		}
		return nil, fmt.Errorf("plan deploy of %s: %w", p.Name, err)
	}
	if msErr == nil {
		msErr = s.deployable(ctx, p, ms)
	}
	if msErr != nil {
		return nil, fmt.Errorf("plan deploy of %s: %w", p.Name, msErr)
	}
	if files.Empty() && p.ComposeProject != "" && !hasComposeMember(p, ms) {
		// Status says "deploy it", but with nothing to copy a deploy starts nothing:
		// "nothing to deploy" would leave the project down and seemingly fine.
		return nil, fmt.Errorf("plan deploy of %s: %w", p.Name, notDeployedInSync(p))
	}
	dp := &dockerPlan{}
	if !files.Empty() {
		c := <-compose
		var after composeView
		if c.err == nil && p.ComposeProject != "" {
			// A shipped .env is what Compose reads after the sync.
			shipsEnv := slices.Contains(files.Added, ".env") || slices.Contains(files.Changed, ".env")
			composeChanged := len(files.ComposeFiles) > 0
			if c.after != nil && composeChanged && !shipsEnv {
				after, c.err = *c.after, c.afterErr
			} else {
				after, c.err = s.afterView(ctx, target, c.before, composeChanged, shipsEnv)
			}
		}
		if c.err != nil {
			return nil, fmt.Errorf("plan deploy of %s: read the Compose file: %w", p.Name, c.err)
		}
		if dp, err = s.planDocker(p, files, ms, &c.before, &after); err != nil {
			return nil, fmt.Errorf("plan deploy of %s: %w", p.Name, err)
		}
	}
	api := DeployPlan{
		Project: p.Name, Added: nonNil(files.Added), Changed: nonNil(files.Changed), Deleted: nonNil(files.Deleted), Dirs: files.Dirs,
		Bytes: files.Bytes, Rebuild: len(dp.build) > 0, Services: nonNil(dp.targets),
		Recreate: names(dp.recreate), Restart: names(dp.restart), ServiceActions: dp.actions,
	}
	api.Kept, api.SetuidStripped, api.EditedInProduction = files.Kept, files.SetuidStripped, files.EditedInProduction
	if dp.actions != nil {
		api.Services = nonNil(servicesWith(dp.actions, ActionCreate, ActionRecreate, ActionRestart, ActionRemove))
	} else {
		api.ServiceActions = []ServiceAction{} // a plain project, or nothing to deploy
	}

	if api.Rebuild {
		api.RebuildReason = dp.rebuildReason
	} else if files.Rebuild {
		api.RebuildReason = "not rebuilding (" + files.RebuildReason + "): no service of the deploy has a build whose inputs changed"
	}
	if commit != nil {
		api.Commit, api.PromotedFrom = commit, PromotionOf(ctx)
	}
	if !files.Empty() {
		api.Fingerprint = fingerprint(p.Workspace, &api)
	}
	return &fullPlan{api: api, files: files, docker: dp}, nil
}

func names(ms []*member) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.name)
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// run is one deploy or rollback as it happens.
type run struct {
	s        *Service
	p        *projects.Project
	progress Progress

	mu  sync.Mutex
	rec Deployment
	// bake is the watch of a deploy that passed its gate (bake.go), nil when none.
	bake *bake
	// unlock frees the project's lock held for the run. finish calls it before the
	// end is recorded: whoever reads the deployment as finished finds the project
	// free for the next operation.
	unlock func()
	// followers are the follows of the run (deploy_follow.go).
	followers runFollowers
}

// event records a step: in the deployment's events, the history, and the caller's progress.
// Its time is taken under the run's lock, so that the order followers get the events
// in is the history's order (by time).
func (r *run) event(stage, container, msg string) {
	r.mu.Lock()
	e := Event{Time: r.s.now(), Stage: stage, Container: container, Message: msg}
	r.rec.Events = append(r.rec.Events, e)
	r.followers.publish(e)
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.s.history.AddEvent(ctx, r.rec.ID, store.EventRecord{At: e.Time, Stage: stage, Container: container, Message: msg}); err != nil {
		r.s.logger.Warn("recording a deploy event", "deploy", r.rec.ID, "error", err)
	}
	if r.progress != nil {
		r.progress(e)
	}
}

// snapshot returns a copy of the record, safe to hand out while the run goes on.
func (r *run) snapshot() Deployment {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.rec
	d.Events = append([]Event(nil), r.rec.Events...)
	return d
}

// start records a new deployment and returns its run.
func (s *Service) start(ctx context.Context, p *projects.Project, kind string, who Actor, plan DeployPlan, undoes string, progress Progress) (*run, error) {
	r := &run{s: s, p: p, progress: progress, rec: Deployment{
		ID: s.newID(), Project: p.Name, Kind: kind, Who: who.Name, StartedAt: s.now(),
		Status: DeployRunning, Plan: plan, Undoes: undoes,
	}}
	planJSON, _ := json.Marshal(plan)
	err := s.history.CreateDeployment(ctx, store.DeploymentRecord{
		ID: r.rec.ID, Project: p.Name, Kind: kind, Who: who.Name, StartedAt: r.rec.StartedAt,
		Status: DeployRunning, Plan: planJSON, Undoes: undoes,
	})
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", kind, p.Name, err)
	}
	s.live.add(r)
	return r, nil
}

// finish records the end of a run.
func (r *run) finish(status, failedStep string, err error, tail []string) {
	r.mu.Lock()
	r.rec.Status, r.rec.FinishedAt, r.rec.FailedStep, r.rec.LogTail = status, r.s.now(), failedStep, tail
	if err != nil {
		r.rec.Error = err.Error()
	}
	rec := r.rec
	unlock := r.unlock
	r.unlock = nil
	r.mu.Unlock()
	if unlock != nil {
		unlock()
	}
	planJSON, _ := json.Marshal(rec.Plan)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.s.history.FinishDeployment(ctx, store.DeploymentRecord{
		ID: rec.ID, FinishedAt: rec.FinishedAt, Status: status, Plan: planJSON,
		FailedStep: failedStep, Error: rec.Error, LogTail: tail,
	}); err != nil {
		r.s.logger.Error("recording the end of a deploy", "deploy", rec.ID, "error", err)
	}
	r.endFollows()
	r.s.metrics.DeploymentsTotal.WithLabelValues(rec.Project, status).Inc()
	level := slog.LevelInfo
	if status != DeploySuccess {
		level = slog.LevelWarn
	}
	r.s.logger.Log(context.Background(), level, rec.Kind+" finished", "project", rec.Project, "deploy", rec.ID,
		"status", status, "failed_step", failedStep, "error", rec.Error, "duration", rec.FinishedAt.Sub(rec.StartedAt))
}

// stage times fn as one deploy stage.
func (r *run) stage(name string, fn func() error) error {
	start := time.Now()
	err := fn()
	r.s.metrics.DeployStageDuration.WithLabelValues(name).Observe(time.Since(start).Seconds())
	return err
}

// History returns a project's last deploys and rollbacks, newest first, without events.
func (s *Service) History(ctx context.Context, project string, limit int) ([]Deployment, error) {
	p, err := s.projects.Resolve(project)
	if err != nil {
		return nil, err
	}
	if s.history == nil {
		return nil, errors.New("deploys are not configured")
	}
	recs, err := s.history.Deployments(ctx, p.Name, "", "", limit)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", p.Name, err)
	}
	out := make([]Deployment, len(recs))
	for i := range recs {
		out[i] = fromRecord(&recs[i])
	}
	return out, nil
}

// Deployment returns one deploy or rollback with its events.
func (s *Service) Deployment(ctx context.Context, id string) (*Deployment, error) {
	if s.history == nil {
		return nil, errors.New("deploys are not configured")
	}
	rec, err := s.history.Deployment(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("deployment %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	d := fromRecord(rec)
	return &d, nil
}

func fromRecord(r *store.DeploymentRecord) Deployment {
	d := Deployment{
		ID: r.ID, Project: r.Project, Kind: r.Kind, Who: r.Who, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt,
		Status: r.Status, FailedStep: r.FailedStep, Error: r.Error, Undoes: r.Undoes, LogTail: r.LogTail, Bake: r.Bake,
	}
	_ = json.Unmarshal(r.Plan, &d.Plan) // a plan that does not read back is shown empty
	for _, e := range r.Events {
		d.Events = append(d.Events, Event{Time: e.At, Stage: e.Stage, Container: e.Container, Message: e.Message})
	}
	return d
}
