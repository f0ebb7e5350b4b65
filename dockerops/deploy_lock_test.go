package dockerops

import (
	"context"
	"sync"
	"testing"

	"github.com/scar-dev/scar/store"
)

// lockWitness is a History that notes, for every deploy whose end is recorded,
// whether the project's lock was still held at that moment.
type lockWitness struct {
	History
	svc *Service

	mu   sync.Mutex
	held map[string]bool // deploy id → lock held when its end was recorded
}

func (w *lockWitness) FinishDeployment(ctx context.Context, d store.DeploymentRecord) error {
	rec, err := w.History.Deployment(ctx, d.ID)
	if err != nil {
		return err
	}
	_, held := w.svc.locks.Holder(rec.Project)
	w.mu.Lock()
	w.held[d.ID] = held
	w.mu.Unlock()
	return w.History.FinishDeployment(ctx, d)
}

func (w *lockWitness) heldAtEnd(t *testing.T, id string) bool {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	held, ok := w.held[id]
	if !ok {
		t.Fatalf("the end of %s was never recorded", id)
	}
	return held
}

// TestFinishedDeployLeavesTheProjectFree: a client that waits for a deploy to read
// as finished and then starts the next operation must not be told the project is
// busy. CI once saw a 409 there, because the end was recorded a moment before the
// lock was let go. Each kind of end is checked: a success, a failure rolled back,
// and a rollback.
func TestFinishedDeployLeavesTheProjectFree(t *testing.T) {
	e := newDeployEnv(t, nil)
	w := &lockWitness{History: e.svc.history, svc: e.svc, held: map[string]bool{}}
	e.svc.history = w

	e.edit("content/index.txt", "content v2\n")
	ok := e.deploy()
	e.mustSucceed(ok)
	e.editCompose("VERSION: v1", "VERSION: v2\n      UNHEALTHY: \"1\"")
	failed := e.deploy()
	if failed.Status != DeployFailedRolledBack {
		t.Fatalf("the unhealthy deploy ended %s (%s), want %s", failed.Status, failed.Error, DeployFailedRolledBack)
	}
	back := e.rollback()
	for _, d := range []*Deployment{ok, failed, back} {
		if w.heldAtEnd(t, d.ID) {
			t.Errorf("%s %s (%s) was recorded finished while the project's lock was still held", d.Kind, d.ID, d.Status)
		}
	}
}
