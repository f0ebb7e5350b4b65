package dockerops

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/scar-dev/scar/projects"
)

// OpFollow is the operation label of a log follow; scar_operation_duration_seconds
// times its start (the tail read and the containers found), not how long it lasts.
const OpFollow = "follow"

// Follow bounds, unless WithFollowBuffer says otherwise.
const (
	// DefaultFollowBuffer is how many lines a follow holds for a reader that has not
	// taken them yet.
	DefaultFollowBuffer = 512
	// DefaultFollowStall is how long a follow waits for a reader whose buffer is full
	// before it drops it: a reader that takes nothing for that long has fallen behind.
	DefaultFollowStall = 10 * time.Second
)

// Why a follow ended, as Follow.Reason says it.
const (
	FollowStopped      = "stopped"
	FollowFellBehind   = "the reader fell behind"
	FollowEngineGone   = "the Docker engine went away"
	FollowNoContainers = "no container left to follow"
)

// WithFollowBuffer sets how many lines a follow holds for its reader and how long it
// waits for a reader whose buffer is full before it ends the follow (defaults
// DefaultFollowBuffer and DefaultFollowStall).
func WithFollowBuffer(lines int, stall time.Duration) Option {
	return func(s *Service) { s.followBuffer, s.followStall = lines, stall }
}

// FollowLogs follows the logs of a project's containers: first the tail that Logs
// would answer (Lines, Since, Grep), then the lines the engine writes from then on.
// Container "" follows every container of the project, the tails merged by time and
// then the new lines in the order they arrive; a named one follows only it. A
// container that stops or restarts is followed across it, with a note that says so.
// Bad input and an unknown project or container are errors, returned before any line.
// The follow ends when ctx ends, Stop is called, MaxDuration (0: DefaultFollowMax)
// passes, the reader falls behind, or the engine goes away; then Lines is closed,
// after a last note for every end but ctx and Stop, and every goroutine of it has ended.
func (s *Service) FollowLogs(ctx context.Context, project string, req FollowRequest) (*Follow, error) {
	done := s.track(OpFollow)
	p, err := s.projects.Resolve(project)
	if err != nil {
		done("", true)
		return nil, err
	}
	f, err := s.followLogs(ctx, p, req)
	done(p.Name, err != nil)
	return f, err
}

func (s *Service) followLogs(ctx context.Context, p *projects.Project, req FollowRequest) (*Follow, error) {
	q, err := parseLogsRequest(req.LogsRequest, s.now())
	if err != nil {
		return nil, err
	}
	if req.MaxDuration < 0 {
		return nil, badInput("the follow's time limit must be positive, got %s", req.MaxDuration)
	}
	maxDur := cmp.Or(req.MaxDuration, DefaultFollowMax)
	ms, err := s.members(ctx, p)
	if err == nil {
		err = s.requireMembers(ctx, p, ms)
	}
	if err != nil {
		return nil, fmt.Errorf("follow logs of %s: %w", p.Name, err)
	}
	targets, err := followTargets(ms, req.Container)
	if err != nil {
		return nil, fmt.Errorf("follow logs of %s: %w", p.Name, err)
	}

	// The live part reads from before the tails, and drops what a tail already had.
	from := s.now()
	var (
		tail   []FollowLine
		cs     = make([]*followed, 0, len(targets))
		states = make([]*container.State, 0, len(targets))
	)
	for _, m := range targets {
		c, st, lines, err := s.followTail(ctx, m, q, from)
		if err != nil {
			return nil, fmt.Errorf("follow logs of %s: %s: %w", p.Name, m.name, err)
		}
		cs, states, tail = append(cs, c), append(states, st), append(tail, lines...)
	}
	slices.SortStableFunc(tail, func(a, b FollowLine) int { return a.Time.Compare(b.Time) })

	fctx, cancel := context.WithCancel(ctx)
	fl := &follower{
		svc: s, ctx: fctx, cancel: cancel, grep: newGrepFilter(q.grep),
		out:   make(chan FollowLine, cmp.Or(s.followBuffer, DefaultFollowBuffer)),
		in:    make(chan FollowLine),
		stall: cmp.Or(s.followStall, DefaultFollowStall),
		max:   maxDur,
	}
	names := make([]string, len(cs))
	followed := make(chan struct{})
	fl.wg.Add(len(cs))
	for i, c := range cs {
		names[i] = c.name
		go func() {
			defer fl.wg.Done()
			fl.followContainer(c, states[i])
		}()
	}
	go func() {
		fl.wg.Wait()
		close(followed)
	}()
	go fl.pump(tail, followed)
	return NewFollow(p.Name, names, fl.out, func() { fl.end(FollowStopped, "") }, fl.endedReason), nil
}

// followTargets are the containers a follow reads: the one named, else every one of
// the project that exists.
func followTargets(ms []*member, name string) ([]*member, error) {
	if name != "" {
		m, err := logTarget(ms, name)
		if err != nil {
			return nil, err
		}
		return []*member{m}, nil
	}
	var out []*member
	for _, m := range ms {
		if m.found() {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no containers: %w", ErrNotFound)
	}
	return out, nil
}

// followTail reads one container's tail and what its live part starts from.
func (s *Service) followTail(ctx context.Context, m *member, q logQuery, from time.Time) (*followed, *container.State, []FollowLine, error) {
	in, err := s.inspect(ctx, m.summary.ID)
	if err != nil {
		return nil, nil, nil, notFound(err)
	}
	if in.State == nil {
		return nil, nil, nil, fmt.Errorf("inspect %s: the engine sent no state", m.name)
	}
	col, _, err := s.collectLogs(ctx, m.summary.ID, q)
	if err != nil {
		return nil, nil, nil, err
	}
	c := &followed{name: m.name, id: m.summary.ID, tty: in.Config != nil && in.Config.Tty, since: from}
	if !q.since.IsZero() && q.since.After(from) {
		c.since = q.since
	}
	lines := col.result()
	out := make([]FollowLine, len(lines))
	for i, l := range lines {
		out[i] = FollowLine{Time: l.Time, Container: m.name, Stream: l.Stream, Text: l.Text}
		c.seen = later(c.seen, l.Time)
	}
	return c, in.State, out, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// follower runs one follow: a goroutine per container sends its lines to in; pump,
// the only sender on out, hands them to the reader and decides when it all ends.
type follower struct {
	svc    *Service
	ctx    context.Context
	cancel context.CancelFunc
	grep   grepFilter
	out    chan FollowLine
	in     chan FollowLine
	stall  time.Duration
	max    time.Duration
	wg     sync.WaitGroup

	mu     sync.Mutex
	reason string // why it ends, set once
	note   string // the last line that says so; "" for none
	ended  string // reason, once out is closed
}

// end asks the follow to end for reason, with a last note unless note is ""; the
// first reason given is the one kept.
func (f *follower) end(reason, note string) {
	f.mu.Lock()
	if f.reason == "" {
		f.reason, f.note = reason, note
	}
	f.mu.Unlock()
	f.cancel()
}

func (f *follower) endedReason() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ended
}

// pump hands the tail, then the containers' lines, to the reader until the follow
// ends; then it waits for the containers' goroutines, sends the last note and closes
// out.
func (f *follower) pump(tail []FollowLine, followed <-chan struct{}) {
	limit := time.NewTimer(f.max)
	defer limit.Stop()
	stall := time.NewTimer(f.stall)
	defer stall.Stop()
	for _, l := range tail {
		if !f.deliver(l, limit, stall) {
			break
		}
	}
loop:
	for f.ctx.Err() == nil {
		select {
		case <-f.ctx.Done():
			break loop
		case <-limit.C:
			f.endAtLimit()
		case <-followed:
			f.end(FollowNoContainers, "follow ended: "+FollowNoContainers)
		case l := <-f.in:
			if !f.deliver(l, limit, stall) {
				break loop
			}
		}
	}
	f.end(FollowStopped, "") // the parent context ended: nobody is reading
	<-followed
	f.mu.Lock()
	reason, note := f.reason, f.note
	f.mu.Unlock()
	if note != "" {
		f.lastWord(FollowLine{Time: time.Now(), Text: note, Note: true}, reason == FollowFellBehind)
	}
	f.mu.Lock()
	f.ended = reason
	f.mu.Unlock()
	close(f.out)
}

func (f *follower) endAtLimit() {
	f.end(fmt.Sprintf("the time limit (%s) passed", f.max), fmt.Sprintf("follow ended: %s passed", f.max))
}

// deliver hands one line to the reader, waiting at most the stall time for room; it
// reports false when the follow ends instead.
func (f *follower) deliver(l FollowLine, limit, stall *time.Timer) bool {
	select {
	case f.out <- l:
		return true
	default:
	}
	stall.Reset(f.stall)
	defer stall.Stop()
	select {
	case f.out <- l:
		return true
	case <-f.ctx.Done():
	case <-limit.C:
		f.endAtLimit()
	case <-stall.C:
		f.end(FollowFellBehind, "follow ended: "+FollowFellBehind)
	}
	return false
}

// lastWord sends the note that ends the follow. A reader that fell behind has a full
// buffer: its oldest line makes room for the note, since the reader is dropped
// anyway. Another reader gets the stall time to make room.
func (f *follower) lastWord(note FollowLine, behind bool) {
	if !behind {
		t := time.NewTimer(f.stall)
		defer t.Stop()
		select {
		case f.out <- note:
			return
		case <-t.C:
		}
	}
	select {
	case <-f.out:
	default:
	}
	select {
	case f.out <- note: // pump is the only sender: there is room now
	default:
	}
}

// send passes a container's line to pump; false when the follow ended.
func (f *follower) send(l FollowLine) bool {
	select {
	case f.in <- l:
		return true
	case <-f.ctx.Done():
		return false
	}
}

func (f *follower) sendNote(name string, at time.Time, format string, args ...any) bool {
	return f.send(FollowLine{Time: at, Container: name, Text: name + " " + fmt.Sprintf(format, args...), Note: true})
}
