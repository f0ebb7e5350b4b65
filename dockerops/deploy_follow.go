package dockerops

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// A follow of a deployment (FollowDeployment) is what GET /deployments/{id}/events
// streams and what POST .../deploy?wait=true waits on. The run of a deploy or
// rollback hands each event to its followers in run.event, under the lock that
// appends it to the record, and a follower joins under that same lock, taking the
// events already past from the record in memory: no event falls between the past and
// the live ones, and none is in both.
//
// A follow ends when the run's end is recorded in the history (run.finish), so that
// the final record read then is the one GET /deployments/{id} answers. A deploy's
// bake (bake_time) goes on after that end and is not followed: the bake's field of
// the record says where it is, and a bake that fails appends its rollback's events
// to the finished deploy's record without streaming them (the deploy had already
// ended, with status success, for everyone following it).

// DefaultDeployFollowBuffer is how many events a follower may be behind before it is
// dropped: a deploy never waits for a reader. A deploy records some tens of events;
// one 64 behind has stopped reading.
const DefaultDeployFollowBuffer = 64

// deployFollowPoll is how often a follow of a deployment that this scar does not run
// — one recorded as running that a recovery after a crash is putting back — reads the
// history for news.
const deployFollowPoll = time.Second

// ErrSlowFollower is the end of a follow whose reader fell behind the events by more
// than its buffer and was dropped; following again starts over with every event.
var ErrSlowFollower = errors.New("the reader fell behind the deployment's events and was dropped")

// errFollowStopped is End's answer after Stop: the follow did not see the end.
var errFollowStopped = errors.New("the follow was stopped before the deployment ended")

// DeploymentFollow is a follow of one deploy or rollback: the events recorded before
// it began, then each later one as it is recorded, then the final record.
type DeploymentFollow struct {
	// ID is the deployment's id.
	ID string
	// Past are the events recorded before the follow began, oldest first.
	Past []Event
	// Events carries each later event, in order, once. It is closed when the
	// deployment has ended (End then answers the final record), when the reader fell
	// behind (End answers ErrSlowFollower), or after Stop. A deployment that had
	// already ended has no later events: Events is closed from the start.
	Events <-chan Event

	end  func(ctx context.Context) (*Deployment, error)
	stop func()
}

// End returns, once Events is closed, the deployment's final record as
// Deployment(ctx, ID) answers it; ErrSlowFollower when the reader was dropped.
func (f *DeploymentFollow) End(ctx context.Context) (*Deployment, error) { return f.end(ctx) }

// Stop ends the follow and releases what it holds; it is safe to call more than once
// and after the follow has ended.
func (f *DeploymentFollow) Stop() { f.stop() }

// FollowDeployment follows the deployment id: its events so far, the later ones as
// the run records them, and its end. ErrNotFound for an unknown id. A follower that
// does not keep up is dropped (see DefaultDeployFollowBuffer); it never slows the
// deployment.
func (s *Service) FollowDeployment(ctx context.Context, id string) (*DeploymentFollow, error) {
	if s.history == nil {
		return nil, errors.New("deploys are not configured")
	}
	if f := s.live.follow(id); f != nil {
		return f, nil
	}
	d, err := s.Deployment(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("follow: %w", err)
	}
	if d.Done() {
		return endedFollow(d), nil
	}
	// Running in the history: either its run registered after the look above, or it
	// is not this scar's run (a recovery puts it back), which the history tells.
	if f := s.live.follow(id); f != nil {
		return f, nil
	}
	return s.pollFollow(d), nil
}

// endedFollow is the follow of a deployment that has ended: every event is past.
func endedFollow(d *Deployment) *DeploymentFollow {
	ch := make(chan Event)
	close(ch)
	return &DeploymentFollow{ID: d.ID, Past: d.Events, Events: ch,
		end: func(context.Context) (*Deployment, error) { return d, nil }, stop: func() {}}
}

// liveRuns are this scar's runs whose end is not recorded yet, by deployment id.
type liveRuns struct {
	mu   sync.Mutex
	runs map[string]*run
}

func (l *liveRuns) add(r *run) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.runs == nil {
		l.runs = map[string]*run{}
	}
	l.runs[r.rec.ID] = r
}

func (l *liveRuns) remove(r *run) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.runs[r.rec.ID] == r {
		delete(l.runs, r.rec.ID)
	}
}

// follow subscribes to the live run id; nil when there is none or it has just ended.
func (l *liveRuns) follow(id string) *DeploymentFollow {
	l.mu.Lock()
	r := l.runs[id]
	l.mu.Unlock()
	if r == nil {
		return nil
	}
	return r.follow()
}

// runFollowers are a run's followers, guarded by run.mu.
type runFollowers struct {
	subs []*deploySub
	// ended is set once the run's end is recorded: no one joins after.
	ended bool
}

// deploySub is one follower of a run; its fields are guarded by run.mu.
type deploySub struct {
	ch      chan Event
	dropped bool
	stopped bool
}

// follow subscribes to the run; nil when its end is already recorded (the history
// then holds all of it).
func (r *run) follow() *DeploymentFollow {
	size := r.s.deployFollowBuffer
	if size <= 0 {
		size = DefaultDeployFollowBuffer
	}
	sub := &deploySub{ch: make(chan Event, size)}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.followers.ended {
		return nil
	}
	r.followers.subs = append(r.followers.subs, sub)
	id, svc := r.rec.ID, r.s
	return &DeploymentFollow{
		ID: id, Past: slices.Clone(r.rec.Events), Events: sub.ch,
		end: func(ctx context.Context) (*Deployment, error) {
			r.mu.Lock()
			dropped, stopped := sub.dropped, sub.stopped
			r.mu.Unlock()
			switch {
			case dropped:
				return nil, fmt.Errorf("follow deployment %s: %w", id, ErrSlowFollower)
			case stopped:
				return nil, fmt.Errorf("follow deployment %s: %w", id, errFollowStopped)
			}
			return svc.Deployment(ctx, id)
		},
		stop: func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			if i := slices.Index(r.followers.subs, sub); i >= 0 {
				r.followers.subs = slices.Delete(r.followers.subs, i, i+1)
				sub.stopped = true
				close(sub.ch)
			}
		},
	}
}

// publish hands e to every follower, called with run.mu held. It never blocks: a
// follower whose buffer is full is dropped, its channel closed.
func (f *runFollowers) publish(e Event) {
	f.subs = slices.DeleteFunc(f.subs, func(sub *deploySub) bool {
		select {
		case sub.ch <- e:
			return false
		default:
			sub.dropped = true
			close(sub.ch)
			return true
		}
	})
}

// endFollows closes the run's follows once its end is in the history; later events
// (a failed bake's rollback) and later joiners find the history instead. Calling it
// again does nothing.
func (r *run) endFollows() {
	r.mu.Lock()
	r.followers.ended = true
	for _, sub := range r.followers.subs {
		close(sub.ch)
	}
	r.followers.subs = nil
	r.mu.Unlock()
	r.s.live.remove(r)
}

// pollFollow follows a deployment recorded as running that this scar does not run,
// by reading the history every deployFollowPoll until it has ended. The goroutine
// belongs to the follow: Stop ends it and waits for it.
func (s *Service) pollFollow(d *Deployment) *DeploymentFollow {
	interval := s.deployFollowPoll
	if interval <= 0 {
		interval = deployFollowPoll
	}
	ch := make(chan Event, DefaultDeployFollowBuffer)
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		final *Deployment
	)
	wg.Go(func() {
		defer close(ch)
		seen := len(d.Events)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			now, err := s.Deployment(ctx, d.ID)
			if err != nil {
				continue // the history is read again at the next tick
			}
			for _, e := range now.Events[min(seen, len(now.Events)):] {
				select {
				case ch <- e:
				case <-ctx.Done():
					return
				}
			}
			seen = len(now.Events)
			if now.Done() {
				mu.Lock()
				final = now
				mu.Unlock()
				return
			}
		}
	})
	return &DeploymentFollow{
		ID: d.ID, Past: d.Events, Events: ch,
		end: func(context.Context) (*Deployment, error) {
			mu.Lock()
			defer mu.Unlock()
			if final == nil {
				return nil, fmt.Errorf("follow deployment %s: %w", d.ID, errFollowStopped)
			}
			return final, nil
		},
		stop: func() { cancel(); wg.Wait() },
	}
}
