package dockerops

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrNotCancellable: the deployment cannot be cancelled (it has finished, or it is a
// rollback, which is the way back and always runs to its end).
var ErrNotCancellable = errors.New("not cancellable")

// NotCancellableError says why a deployment cannot be cancelled; it matches
// ErrNotCancellable.
type NotCancellableError struct {
	ID     string
	Status string
	Reason string
}

func (e *NotCancellableError) Error() string {
	return fmt.Sprintf("deployment %s cannot be cancelled: %s", e.ID, e.Reason)
}

// Is makes errors.Is(err, ErrNotCancellable) true.
func (e *NotCancellableError) Is(target error) bool { return target == ErrNotCancellable }

// cancels holds the runs that may be cancelled, by deployment id.
type cancels struct {
	mu   sync.Mutex
	runs map[string]cancelEntry
}

type cancelEntry struct {
	r      *run
	cancel context.CancelCauseFunc
}

// cancellable returns the context a deploy or rollback runs on — ended by Shutdown
// and, for a deploy, by CancelDeployment — and the function to call when the run ends.
// It is called before the run starts, so that a cancel sent right after the caller
// got its 202 finds it.
func (s *Service) cancellable(r *run) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(s.bg.ctx)
	c := &s.bg.cancels
	c.mu.Lock()
	if c.runs == nil {
		c.runs = map[string]cancelEntry{}
	}
	c.runs[r.rec.ID] = cancelEntry{r: r, cancel: cancel}
	c.mu.Unlock()
	return ctx, func() {
		c.mu.Lock()
		delete(c.runs, r.rec.ID)
		c.mu.Unlock()
		cancel(nil)
	}
}

// CancelDeployment cancels a running deploy: the stage it is in is stopped (the
// Compose tool killed with its process group), what it did is rolled back, and it
// is recorded as cancelled. It returns the record as it is now, still running: the
// rollback goes on in the background like the deploy did. A deploy whose last stage
// has already passed ends as success. ErrNotFound for an unknown id;
// ErrNotCancellable for a finished deployment or a rollback.
func (s *Service) CancelDeployment(ctx context.Context, id string, who Actor) (*Deployment, error) {
	c := &s.bg.cancels
	c.mu.Lock()
	e, ok := c.runs[id]
	c.mu.Unlock()
	if !ok {
		d, err := s.Deployment(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("cancel: %w", err)
		}
		reason := "it has finished: " + d.Status
		if !d.Done() {
			reason = "it is not running in this scar (it is being recovered)"
		}
		return nil, &NotCancellableError{ID: id, Status: d.Status, Reason: reason}
	}
	if e.r.rec.Kind == KindRollback {
		return nil, &NotCancellableError{ID: id, Status: DeployRunning, Reason: "it is a rollback, which always runs to its end"}
	}
	e.cancel(&CancelledError{Reason: "cancelled by " + who.Name})
	e.r.event(StageRollback, "", "cancel asked by "+who.Name)
	d := e.r.snapshot()
	return &d, nil
}
