package dockerops

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/scar-dev/scar/store"
)

// TestFollowDeploymentSlowReaderIsDropped: on the real engine, a follower that never
// reads does not hold the deploy up — it is dropped when its buffer is full — while
// another, joined at the same point with events already past, gets every event once,
// in the history's order, then the final record as Deployment answers it. A follow
// joined after the end gets all of it at once.
func TestFollowDeploymentSlowReaderIsDropped(t *testing.T) {
	e := newDeployEnv(t, nil)
	ctx := context.Background()
	e.edit("content/index.txt", "content v2\n")
	// The deploy waits after its backup until both follows have joined: they join a
	// running deploy with an event past.
	atBackup, joined := make(chan struct{}), make(chan struct{})
	e.svc.stageHook = func(stage string) {
		if stage == StageBackup {
			close(atBackup)
			<-joined
		}
	}
	d, err := e.svc.Deploy(ctx, e.p.Name, Actor{Name: "test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-atBackup
	e.svc.deployFollowBuffer = 1
	slow, err := e.svc.FollowDeployment(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Stop()
	e.svc.deployFollowBuffer = 0 // the default for the reader
	reader, err := e.svc.FollowDeployment(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Stop()
	close(joined)

	if len(reader.Past) == 0 || reader.Past[0].Stage != StageBackup {
		t.Fatalf("past events %+v, want the backup's", reader.Past)
	}
	got := append([]Event(nil), reader.Past...)
	deadline := time.After(2 * time.Minute)
	for open := true; open; {
		select {
		case ev, ok := <-reader.Events:
			if ok {
				got = append(got, ev)
			}
			open = ok
		case <-deadline:
			t.Fatalf("the deploy did not end within 2 minutes with a follower that does not read (events so far: %d)", len(got))
		}
	}
	final, err := reader.End(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := e.svc.Deployment(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if final.Status != DeploySuccess || asJSON(t, final) != asJSON(t, stored) {
		t.Errorf("final record %s\nwant it as Deployment answers it, a success: %s", asJSON(t, final), asJSON(t, stored))
	}
	if asJSON(t, got) != asJSON(t, stored.Events) {
		t.Errorf("followed events\n%s\nwant the recorded ones, each once, in order\n%s", asJSON(t, got), asJSON(t, stored.Events))
	}

	n := 0
	for range slow.Events {
		n++
	}
	if _, err := slow.End(ctx); n != 1 || !errors.Is(err, ErrSlowFollower) {
		t.Errorf("the slow follower got %d events and ended with %v; want its one buffered event, then ErrSlowFollower", n, err)
	}

	after, err := e.svc.FollowDeployment(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer after.Stop()
	if _, open := <-after.Events; open || asJSON(t, after.Past) != asJSON(t, stored.Events) {
		t.Errorf("a follow after the end: past %d events, live open %v; want every event past and no live ones", len(after.Past), open)
	}
	if end, err := after.End(ctx); err != nil || asJSON(t, end) != asJSON(t, stored) {
		t.Errorf("a follow after the end ends with %v, %v; want the record", end, err)
	}
}

// TestFollowDeploymentNotRunHere: a deployment recorded as running that this scar does
// not run (a recovery after a crash puts it back) is followed through the history: its
// later events, then its end. An unknown id is ErrNotFound.
func TestFollowDeploymentNotRunHere(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc := New(nil, projectMap{}, nil, nil, WithDeploys(nil, nil, db, nil))
	svc.deployFollowPoll = 20 * time.Millisecond
	start := time.Now()
	if err := db.CreateDeployment(ctx, store.DeploymentRecord{ID: "d1", Project: "p", Kind: KindDeploy, Who: "test",
		StartedAt: start, Status: DeployRunning, Plan: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if err := db.AddEvent(ctx, "d1", store.EventRecord{At: start, Stage: StageBackup, Message: "backing up"}); err != nil {
		t.Fatal(err)
	}

	if _, err := svc.FollowDeployment(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: %v, want ErrNotFound", err)
	}
	f, err := svc.FollowDeployment(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	if len(f.Past) != 1 || f.Past[0].Stage != StageBackup {
		t.Fatalf("past %+v, want the backup event", f.Past)
	}
	for _, stage := range []string{StageRollback, StageFailed} {
		if err := db.AddEvent(ctx, "d1", store.EventRecord{At: time.Now(), Stage: stage, Message: stage}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.FinishDeployment(ctx, store.DeploymentRecord{ID: "d1", FinishedAt: time.Now(), Status: DeployFailedRolledBack}); err != nil {
		t.Fatal(err)
	}
	var stages []string
	timeout := time.After(30 * time.Second)
	for open := true; open; {
		select {
		case ev, ok := <-f.Events:
			if ok {
				stages = append(stages, ev.Stage)
			}
			open = ok
		case <-timeout:
			t.Fatalf("the follow did not end within 30s; events so far %v", stages)
		}
	}
	end, err := f.End(ctx)
	if err != nil || end.Status != DeployFailedRolledBack || len(end.Events) != 3 {
		t.Fatalf("end %+v, %v; want the failed record with its 3 events", end, err)
	}
	if asJSON(t, stages) != `["rollback","failed"]` {
		t.Errorf("live stages %v, want rollback then failed", stages)
	}
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
