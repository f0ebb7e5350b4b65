package dockerops

import (
	"context"
	"sync"
)

// A logs request costs two engine calls one after the other: the list that resolves
// the project's members (only a project's own containers' logs are read for it), then
// the logs call for the member it names. The container a request resolves to rarely
// changes between two requests, so the logs call for the one it resolved to last time
// starts before the list, and the two run together. Its lines are kept only when the
// list resolves the request to that same container id; otherwise they are dropped
// unread by anyone and the logs call is made again for the container the list named.
// Nothing is answered before the list has decided, so what a request is answered is
// what it was answered before: the same lines, the same errors.

// maxLogTargets bounds the remembered targets. Only names that resolved to a member
// are remembered, a few per project; past the bound all are forgotten at once.
const maxLogTargets = 512

// logTargetKey is what a logs request asks for: a project and the container it names,
// "" for the primary.
type logTargetKey struct {
	project, name string
}

// knownTarget is the container a request resolved to, and whether it has a TTY: a
// container's TTY is fixed when it is created, so it holds as long as its id does, and
// the inspect collectLogs makes to learn it is not needed again.
type knownTarget struct {
	id  string
	tty bool
}

// logTargets remembers the container each logs request last resolved to.
type logTargets struct {
	mu sync.Mutex
	m  map[logTargetKey]knownTarget
}

func (t *logTargets) lookup(k logTargetKey) (knownTarget, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.m[k]
	return v, ok
}

func (t *logTargets) remember(k logTargetKey, v knownTarget) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil || len(t.m) >= maxLogTargets {
		t.m = make(map[logTargetKey]knownTarget)
	}
	t.m[k] = v
}

// earlyLogs is a read of a container's log started before the request was resolved
// to it. Its owner either waits for it or drops it; a nil *earlyLogs is no read.
type earlyLogs struct {
	id     string
	cancel context.CancelFunc
	done   chan struct{}
	col    *logCollector
	err    error
}

// startEarlyLogs starts reading the log of the container key last resolved to; nil
// when it resolved to none yet.
func (s *Service) startEarlyLogs(ctx context.Context, key logTargetKey, q logQuery) *earlyLogs {
	t, ok := s.logTargets.lookup(key)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	e := &earlyLogs{id: t.id, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		e.col, e.err = s.collectKnownLogs(ctx, t.id, t.tty, q)
	}()
	return e
}

// of reports whether e reads the log of container id.
func (e *earlyLogs) of(id string) bool { return e != nil && e.id == id }

// wait returns what the read kept.
func (e *earlyLogs) wait() (*logCollector, error) {
	<-e.done
	e.cancel()
	return e.col, e.err
}

// drop ends the read and waits for it, its lines unused.
func (e *earlyLogs) drop() {
	if e == nil {
		return
	}
	e.cancel()
	<-e.done
}
