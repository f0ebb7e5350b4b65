package dockerops

import (
	"context"
	"sync"

	"github.com/moby/moby/api/types/container"
)

// A status costs the list call, then the inspects, one after the other: the
// inspects need the ids the list gives. A project's containers rarely change between
// two statuses, so the inspects of the ids its last status found start with the list
// and run beside it. An early inspect is used only for a container the list finds
// again under the same id; one the list no longer finds is dropped, and a new one is
// inspected after the list, as before. Each inspect still runs within the status
// call, so what status says is what the engine said during that call.

// statusIDs remembers the container ids each project's last status found.
type statusIDs struct {
	mu sync.Mutex
	m  map[string][]string
}

func (t *statusIDs) get(project string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[project]
}

// set remembers the ids of the found members (at most maxConcurrentInspects: the
// early inspects run at once, within the status's bound).
func (t *statusIDs) set(project string, ms []*member) {
	ids := make([]string, 0, len(ms))
	for _, m := range ms {
		if m.found() && len(ids) < maxConcurrentInspects {
			ids = append(ids, m.summary.ID)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = make(map[string][]string)
	}
	t.m[project] = ids
}

// earlyInspects are the inspects a status started before its list answered.
type earlyInspects struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	byID   map[string]*earlyInspect
}

type earlyInspect struct {
	done chan struct{}
	c    *container.InspectResponse
	err  error
}

// startEarlyInspects starts an inspect of each id; nil when there are none.
func (s *Service) startEarlyInspects(ctx context.Context, ids []string) *earlyInspects {
	if len(ids) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	e := &earlyInspects{cancel: cancel, byID: make(map[string]*earlyInspect, len(ids))}
	for _, id := range ids {
		in := &earlyInspect{done: make(chan struct{})}
		e.byID[id] = in
		e.wg.Go(func() {
			defer close(in.done)
			in.c, in.err = s.inspectOne(ctx, id)
		})
	}
	return e
}

// result waits for the early inspect of id and returns it; ok is false when none
// was started for id.
func (e *earlyInspects) result(id string) (c *container.InspectResponse, err error, ok bool) {
	if e == nil {
		return nil, nil, false
	}
	in, ok := e.byID[id]
	if !ok {
		return nil, nil, false
	}
	<-in.done
	return in.c, in.err, true
}

// drop cancels the early inspects no member used and waits for all of them.
func (e *earlyInspects) drop() {
	if e == nil {
		return
	}
	e.cancel()
	e.wg.Wait()
}
