package dockerops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/scar-dev/scar/store"
)

// StageBake is the failed step of a deploy that passed its gate and was rolled back
// because one of its containers failed during the bake.
const StageBake = "bake"

// Bake outcomes recorded in a deployment's bake field (besides "baking until …" and
// "failed: <incident>").
const (
	BakePassed = "passed"
	// BakeEndedBy prefixes what ended a bake before its time: a restart, deploy or
	// rollback of the project, or a restart of scar.
	BakeEndedBy = "ended by "
	// BakeEndedByScar is what a bake running when scar stops records: a bake is not
	// taken up again after a restart (its window has mostly passed, and the watcher
	// keeps alerting on the containers anyway).
	BakeEndedByScar = BakeEndedBy + "restart of scar"
)

// bakery holds the running bakes, at most one per project (a restart, deploy or
// rollback of the project ends its bake), and owns their goroutines: stop cancels
// the waiting ones and waits for all, a bake rolling back included.
type bakery struct {
	mu      sync.Mutex
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	running map[string]*bake
	stopped bool
}

// bake is the watch of one successful deploy's containers for its bake_time.
type bake struct {
	ids         map[string]bool // the containers under watch, by id
	events      <-chan WatchEvent
	unsubscribe func()
	until       time.Time   // as shown: the Service's clock
	timer       *time.Timer // ends the window: bake_time from the gate

	// ended receives the operation that ended the bake before its time.
	ended chan string
}

// prepareBake starts watching a deploy that has just passed its gate, while the
// project's lock is still held: it subscribes to the project's events before the
// deploy is recorded a success, so that nothing between the gate and the bake is
// missed, and records "baking until …". nil when there is no watcher, the project's
// bake_time is 0, or scar is stopping.
func (s *Service) prepareBake(ctx context.Context, r *run) *bake {
	p := r.p
	if s.watcher == nil || p.BakeTime <= 0 {
		return nil
	}
	ms, err := s.members(ctx, p)
	if err != nil {
		s.logger.Warn("not baking a deploy: listing its containers failed", "deploy", r.rec.ID, "project", p.Name, "error", err)
		return nil
	}
	b := &bake{ids: map[string]bool{}, until: s.now().Add(p.BakeTime), ended: make(chan string, 1), timer: time.NewTimer(p.BakeTime)}
	for _, m := range ms {
		if m.found() {
			b.ids[m.summary.ID] = true
		}
	}
	s.bakes.mu.Lock()
	if s.bakes.stopped {
		s.bakes.mu.Unlock()
		b.timer.Stop()
		return nil
	}
	if s.bakes.ctx == nil {
		s.bakes.ctx, s.bakes.cancel = context.WithCancel(context.Background())
		s.bakes.running = map[string]*bake{}
	}
	b.events, b.unsubscribe = s.watcher.Subscribe(p.Name)
	s.bakes.running[p.Name] = b
	s.bakes.mu.Unlock()
	s.setBake(r, "baking until "+b.until.UTC().Format(time.RFC3339))
	return b
}

// startBake runs a prepared bake in the background, once the deploy has released
// the project's lock. The deploy's progress is not told of the bake: its caller has
// its final answer and follows the bake in the record.
func (s *Service) startBake(r *run, b *bake) {
	if b == nil {
		return
	}
	r.progress = nil
	s.bakes.mu.Lock()
	defer s.bakes.mu.Unlock()
	if s.bakes.stopped {
		if s.bakes.running[r.p.Name] == b {
			delete(s.bakes.running, r.p.Name)
		}
		b.unsubscribe()
		b.timer.Stop()
		s.setBake(r, BakeEndedByScar)
		return
	}
	ctx := s.bakes.ctx
	s.bakes.wg.Go(func() { s.runBake(ctx, r, b) })
}

// endBake ends the project's bake, if one runs, because op (restart, deploy,
// rollback) now changes the project; called with the project's lock held.
func (s *Service) endBake(project, op string) {
	s.bakes.mu.Lock()
	defer s.bakes.mu.Unlock()
	if b := s.bakes.running[project]; b != nil {
		delete(s.bakes.running, project)
		b.ended <- op
	}
}

// forgetBake removes b from the running bakes unless another took its place.
func (s *Service) forgetBake(project string, b *bake) {
	s.bakes.mu.Lock()
	defer s.bakes.mu.Unlock()
	if s.bakes.running[project] == b {
		delete(s.bakes.running, project)
	}
}

// stopBakes ends the bakes that wait (recorded as ended by a restart of scar) and
// waits for every bake, one rolling back included. No bake starts after.
func (s *Service) stopBakes() {
	s.bakes.mu.Lock()
	s.bakes.stopped = true
	if s.bakes.cancel != nil {
		s.bakes.cancel()
	}
	s.bakes.mu.Unlock()
	s.bakes.wg.Wait()
}

// endStaleBakes ends, at start, the bakes a stop of scar cut short without ending
// them (a crash, SIGKILL): a bake is not taken up again after a restart.
func (s *Service) endStaleBakes(ctx context.Context) error {
	n, err := s.history.EndBakes(ctx, BakeEndedByScar)
	if err != nil {
		return err
	}
	if n > 0 {
		s.logger.Info("bakes cut short by a stop of scar recorded as ended", "count", n)
	}
	return nil
}

// runBake waits until the bake's time is up, an operation ends it, scar stops, or an
// incident of one of the deployed containers fails it.
func (s *Service) runBake(ctx context.Context, r *run, b *bake) {
	defer b.unsubscribe()
	defer s.forgetBake(r.p.Name, b)
	defer b.timer.Stop()
	for {
		select {
		case <-b.timer.C:
			s.setBake(r, BakePassed)
			return
		case op := <-b.ended:
			s.setBake(r, BakeEndedBy+op)
			return
		case <-ctx.Done():
			s.setBake(r, BakeEndedByScar)
			return
		case ev, ok := <-b.events:
			if !ok {
				// The watcher dropped the subscription (it fell behind): the deploy can
				// no longer be watched, which is said rather than passed.
				s.setBake(r, BakeEndedBy+"the watcher (its events were lost)")
				return
			}
			if in := bakeIncident(ev, b.ids); in != nil {
				s.failBake(r, b, in)
				return
			}
		}
	}
}

// bakeIncident returns the incident of ev when it fails a bake: an open died, oom,
// unhealthy or crash loop incident of one of the containers under watch.
func bakeIncident(ev WatchEvent, ids map[string]bool) *store.Incident {
	in := ev.Incident
	if in == nil || !in.Open() || !ids[in.ContainerID] {
		return nil
	}
	switch in.Kind {
	case store.KindDied, store.KindOOM, store.KindUnhealthy, store.KindCrashLoop:
		return in
	}
	return nil
}

// failBake rolls the deploy back after an incident in its bake, through the undo of
// an asked-for rollback, under the project's lock and as scar's own operation (its
// events are not alerted). The deploy's record becomes failed_rolled_back at step
// bake with the incident as its error (rollback_failed when the undo fails), and a
// notice goes to the alert chats.
func (s *Service) failBake(r *run, b *bake, in *store.Incident) {
	p := r.p
	cause := incidentCause(in)
	unlock, err := s.lockQuiet(p.Name, OpRollback, Actor{Name: "scar (bake of " + r.rec.ID + ")"})
	if err != nil {
		// Another operation started on the project: it ends the bake.
		op := "another operation"
		if busy, ok := errors.AsType[*BusyError](err); ok {
			op = busy.Operation
		}
		s.setBake(r, BakeEndedBy+op)
		return
	}
	defer unlock()
	r.mu.Lock()
	r.unlock = unlock
	r.mu.Unlock()
	select {
	case op := <-b.ended: // it ran and ended before the lock was ours
		s.setBake(r, BakeEndedBy+op)
		return
	default:
	}
	s.forgetBake(p.Name, b)
	defer s.filesChanged(p)
	ctx, cancel := context.WithTimeout(context.Background(), undoTimeout)
	defer cancel()

	var tail []string
	if in.Detail != "" {
		tail = strings.Split(in.Detail, "\n")
	}
	r.event(StageRollback, in.Container, "bake failed: "+cause+"; rolling back")
	step, failed, err := s.undoCommitted(ctx, r, r.rec.ID)
	if err != nil {
		r.event(StageFailed, "", fmt.Sprintf("rollback after the bake failed at %s: %v", step, err))
		if t := s.logTail(ctx, failed, 20); len(t) > 0 {
			tail = t
		}
		s.setBake(r, "failed: "+cause)
		r.finish(DeployRollbackFailed, StageBake, fmt.Errorf("%s; rollback failed at %s: %w", cause, step, err), tail)
		s.notice(ctx, r)
		return
	}
	if err := s.pruneRollbackTags(ctx, p); err != nil {
		s.logger.Warn("removing old rollback tags", "project", p.Name, "error", err)
	}
	r.event(StageFailed, "", "failed at bake, rolled back: the previous version is running")
	s.setBake(r, "failed: "+cause)
	r.finish(DeployFailedRolledBack, StageBake, errors.New(cause), tail)
	s.notice(ctx, r)
}

// incidentCause says what an incident is in one line: "web died: exited with code 1".
func incidentCause(in *store.Incident) string {
	what := strings.ReplaceAll(in.Kind, "_", " ")
	name := in.Container
	if name == "" {
		name = shortID(in.ContainerID)
	}
	if in.Summary == "" {
		return name + " " + what
	}
	return name + " " + what + ": " + in.Summary
}

// setBake records where a deploy's bake is, in the run and the history.
func (s *Service) setBake(r *run, bake string) {
	r.mu.Lock()
	r.rec.Bake = bake
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.history.SetBake(ctx, r.rec.ID, bake); err != nil {
		s.logger.Warn("recording a deploy's bake", "deploy", r.rec.ID, "bake", bake, "error", err)
	}
}
