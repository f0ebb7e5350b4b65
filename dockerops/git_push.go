package dockerops

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/scar-dev/scar/gitsource"
	"github.com/scar-dev/scar/store"
)

// pushAnswerWait is how long Push waits for the deploy to start (fetch, checkout,
// plan) before it answers "queued": a webhook's sender wants its answer at once.
const pushAnswerWait = 5 * time.Second

// pushPoll is how often a push queue looks whether the project is free again or its
// deploy has ended.
const pushPoll = 200 * time.Millisecond

// shaPattern is a full commit id, as push payloads carry it.
var shaPattern = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)

// pushQueues hold, per git project, the newest push not yet deployed.
type pushQueues struct {
	mu     sync.Mutex
	queues map[string]*pushQueue
	// closed is closed by Shutdown: no push starts a deploy after it.
	closed chan struct{}
	once   sync.Once
}

type pushQueue struct {
	// pending is the newest push not yet deployed; a newer one replaces it.
	pending *Push
	// draining: a goroutine deploys the queue's pushes (drainPushes).
	draining bool
}

func (q *pushQueues) init() {
	q.once.Do(func() {
		q.queues = make(map[string]*pushQueue)
		q.closed = make(chan struct{})
	})
}

func (q *pushQueues) close() {
	q.init()
	q.mu.Lock()
	defer q.mu.Unlock()
	select {
	case <-q.closed:
	default:
		close(q.closed)
	}
}

// pushStart is how the first deploy of a drain began: a deploy, busy (nil, nil), or
// an error.
type pushStart struct {
	d   *Deployment
	err error
}

// Push deploys a pushed commit of a git project: at once when the project is free,
// else once the running deploy ends, coalescing pushes that arrive meanwhile so that
// only the newest is deployed. The alert chats are told when the deploy starts and
// how it ended, with the commit's sha, subject and author.
func (s *Service) Push(ctx context.Context, project string, push Push) (*PushOutcome, error) {
	p, err := s.projects.Resolve(project)
	if err != nil {
		return nil, err
	}
	switch {
	case !p.IsGit():
		return nil, badInput("project %s deploys from its workspace, not from git: it takes no pushes", p.Name)
	case push.Branch != p.Git.Branch:
		return nil, badInput("push to branch %q: project %s deploys branch %q", push.Branch, p.Name, p.Git.Branch)
	case !shaPattern.MatchString(push.SHA):
		return nil, badInput("push of %q: not a full commit id", push.SHA)
	case s.files == nil:
		return nil, errors.New("deploys are not configured")
	}
	s.pushes.init()
	select {
	case <-s.pushes.closed:
		return nil, errors.New("scar is shutting down: push again once it is back")
	default:
	}
	s.pushes.mu.Lock()
	q := s.pushes.queues[p.Name]
	if q == nil {
		q = &pushQueue{}
		s.pushes.queues[p.Name] = q
	}
	q.pending = &push
	if q.draining {
		s.pushes.mu.Unlock()
		return queued(p.Name, push, "a deploy of "+p.Name+" is running"), nil
	}
	q.draining = true
	s.pushes.mu.Unlock()

	first := make(chan pushStart, 1)
	s.bg.wg.Go(func() { s.drainPushes(p.Name, q, first) })
	select {
	case st := <-first:
		switch {
		case st.err != nil:
			return nil, st.err
		case st.d == nil:
			return queued(p.Name, push, "the project is busy"), nil
		}
		return &PushOutcome{Status: PushStarted, Deployment: st.d,
			Message: fmt.Sprintf("deploying %s to %s: deployment %s", short(push.SHA), p.Name, st.d.ID)}, nil
	case <-time.After(pushAnswerWait):
	case <-ctx.Done():
	}
	return queued(p.Name, push, "still fetching and planning"), nil
}

func queued(project string, push Push, why string) *PushOutcome {
	return &PushOutcome{Status: PushQueued, Message: fmt.Sprintf(
		"queued: %s; %s is deployed to %s when it can be (a newer push replaces it); the alert chats are told when it starts and how it ends",
		why, short(push.SHA), project)}
}

func short(sha string) string {
	if len(sha) > 10 {
		return sha[:10]
	}
	return sha
}

// drainPushes deploys the queue's newest push, waits for that deploy to end, and
// goes on while pushes keep coming; it waits while another operation holds the
// project. How its first deploy began goes to first.
func (s *Service) drainPushes(project string, q *pushQueue, first chan<- pushStart) {
	ctx := s.bg.ctx
	report := func(st pushStart) {
		if first != nil {
			first <- st
			first = nil
		}
	}
	defer report(pushStart{}) // nothing was started: the answer is "queued"
	for {
		s.pushes.mu.Lock()
		next := q.pending
		q.pending = nil
		closed := s.pushes.isClosed()
		if next == nil || closed {
			q.draining = false
			s.pushes.mu.Unlock()
			if next != nil {
				s.logger.Warn("a pushed commit was not deployed: scar is shutting down", "project", project, "commit", next.SHA)
			}
			return
		}
		s.pushes.mu.Unlock()

		d, err := s.Deploy(WithRef(ctx, next.SHA), project, Actor{Name: pusher(*next), Source: next.Delivery}, nil)
		if errors.Is(err, ErrBusy) {
			s.pushes.mu.Lock()
			if q.pending == nil {
				q.pending = next
			}
			s.pushes.mu.Unlock()
			report(pushStart{})
			s.waitFree(project)
			continue
		}
		report(pushStart{d: d, err: err})
		if err != nil {
			s.logger.Warn("a pushed commit could not be deployed", "project", project, "commit", next.SHA, "error", err)
			s.pushNotice(ctx, store.Incident{Kind: store.KindDeployFailed, Project: project,
				Summary: fmt.Sprintf("push of %s (%s) could not be deployed; production is unchanged", short(next.SHA), pusher(*next)),
				Detail:  err.Error()})
			continue
		}
		c := d.Plan.Commit
		if d.Status == DeployNothingToDo {
			s.pushNotice(ctx, store.Incident{Kind: store.KindPushDeployed, Project: project,
				Summary: fmt.Sprintf("%s: nothing to deploy, production already has its files", commitLine(c, next.SHA))})
			continue
		}
		s.pushNotice(ctx, store.Incident{Kind: store.KindPushStarted, Project: project, DeploymentID: d.ID,
			Summary: fmt.Sprintf("deploying %s, pushed by %s", commitLine(c, next.SHA), pusherName(*next))})
		end := s.waitEnd(d.ID)
		if end != nil && end.Status == DeploySuccess {
			s.pushNotice(ctx, store.Incident{Kind: store.KindPushDeployed, Project: project, DeploymentID: d.ID,
				Summary: fmt.Sprintf("%s deployed in %s (deployment %s)", commitLine(c, next.SHA), end.FinishedAt.Sub(end.StartedAt).Round(100*time.Millisecond), d.ID)})
		}
		// A failed one is told by the deploy's own notice (deploy_notice.go).
	}
}

func (q *pushQueues) isClosed() bool {
	select {
	case <-q.closed:
		return true
	default:
		return false
	}
}

// waitFree waits until no operation holds the project, or scar shuts down.
func (s *Service) waitFree(project string) {
	t := time.NewTicker(pushPoll)
	defer t.Stop()
	for {
		if _, held := s.locks.Holder(project); !held {
			return
		}
		select {
		case <-t.C:
		case <-s.pushes.closed:
			return
		}
	}
}

// waitEnd waits until the deployment has ended and returns its record; nil when scar
// shuts down first or the record cannot be read.
func (s *Service) waitEnd(id string) *Deployment {
	t := time.NewTicker(pushPoll)
	defer t.Stop()
	for {
		d, err := s.Deployment(s.bg.ctx, id)
		if err != nil {
			s.logger.Warn("reading a push deploy's record", "deploy", id, "error", err)
			return nil
		}
		if d.Done() {
			return d
		}
		select {
		case <-t.C:
		case <-s.pushes.closed:
			return nil
		}
	}
}

// pushNotice records a notice for the project's alert chats (none without a watcher).
func (s *Service) pushNotice(ctx context.Context, in store.Incident) {
	if s.watcher == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), noticeTimeout)
	defer cancel()
	if err := s.watcher.Notice(ctx, in); err != nil {
		s.logger.Warn("recording a push deploy's notice", "project", in.Project, "error", err)
	}
}

// pusher is who a push deploy runs for, as history and audit show it.
func pusher(p Push) string { return "git:" + p.Provider + " " + pusherName(p) }

func pusherName(p Push) string {
	if p.Pusher == "" {
		return "someone"
	}
	return p.Pusher
}

// commitLine names a commit in one line: short sha, subject and author.
func commitLine(c *gitsource.Commit, sha string) string {
	if c == nil {
		return short(sha)
	}
	subject := c.Subject
	if r := []rune(subject); len(r) > 120 {
		subject = string(r[:117]) + "…"
	}
	return fmt.Sprintf("%s %q by %s", c.Short(), subject, c.Author)
}
