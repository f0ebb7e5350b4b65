package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDeploymentLifecycle(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	start := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	for i, id := range []string{"d1", "d2", "d3"} {
		err := db.CreateDeployment(ctx, DeploymentRecord{ID: id, Project: "po", Kind: "deploy", Who: "api:ci", StartedAt: start.Add(time.Duration(i) * time.Minute), Status: "running", Plan: []byte(`{"added":["a"]}`)})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := db.AddEvent(ctx, "d2", EventRecord{At: start, Stage: "sync", Message: "3 files"}); err != nil {
		t.Fatal(err)
	}
	if err := db.AddEvent(ctx, "d2", EventRecord{At: start.Add(time.Second), Stage: "health", Container: "web", Message: "healthy"}); err != nil {
		t.Fatal(err)
	}
	err := db.FinishDeployment(ctx, DeploymentRecord{ID: "d2", FinishedAt: start.Add(time.Hour), Status: "failed_rolled_back", FailedStep: "health", Error: "unhealthy", LogTail: []string{"l1", "l2"}, Plan: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	d, err := db.Deployment(ctx, "d2")
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != "failed_rolled_back" || d.FailedStep != "health" || len(d.LogTail) != 2 || len(d.Events) != 2 || d.Events[1].Container != "web" || !d.FinishedAt.Equal(start.Add(time.Hour)) {
		t.Fatalf("deployment read back as %+v", d)
	}
	list, err := db.Deployments(ctx, "po", "", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].ID != "d3" {
		t.Fatalf("history %+v, want d3 first of 3", list)
	}
	failed, err := db.Deployments(ctx, "po", "deploy", "failed_rolled_back", 10)
	if err != nil || len(failed) != 1 {
		t.Fatalf("filtered history %+v %v", failed, err)
	}
	if _, err := db.Deployment(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing deployment: %v, want ErrNotFound", err)
	}
	if err := db.FinishDeployment(ctx, DeploymentRecord{ID: "nope"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("finishing a missing deployment: %v", err)
	}
}

func TestSetBakeReadsBack(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	start := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	if err := db.CreateDeployment(ctx, DeploymentRecord{ID: "d1", Project: "po", Kind: "deploy", Who: "api:ci", StartedAt: start, Status: "running"}); err != nil {
		t.Fatal(err)
	}
	d, err := db.Deployment(ctx, "d1")
	if err != nil || d.Bake != "" {
		t.Fatalf("a new deployment's bake %q (%v), want none", d.Bake, err)
	}
	for _, bake := range []string{"baking until 2026-05-01T10:02:00Z", "passed"} {
		if err := db.SetBake(ctx, "d1", bake); err != nil {
			t.Fatal(err)
		}
		d, err := db.Deployment(ctx, "d1")
		if err != nil || d.Bake != bake {
			t.Fatalf("bake read back as %q (%v), want %q", d.Bake, err, bake)
		}
		list, err := db.Deployments(ctx, "po", "", "", 10)
		if err != nil || len(list) != 1 || list[0].Bake != bake {
			t.Fatalf("history %+v (%v), want bake %q", list, err, bake)
		}
	}
	if err := db.SetBake(ctx, "nope", "passed"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("setting the bake of a missing deployment: %v, want ErrNotFound", err)
	}

	// At start, the bakes a crash cut short are ended; the others keep theirs.
	if err := db.CreateDeployment(ctx, DeploymentRecord{ID: "d2", Project: "po", Kind: "deploy", Who: "api:ci", StartedAt: start.Add(time.Minute), Status: "success"}); err != nil {
		t.Fatal(err)
	}
	if err := db.SetBake(ctx, "d2", "baking until 2026-05-01T10:03:00Z"); err != nil {
		t.Fatal(err)
	}
	n, err := db.EndBakes(ctx, "ended by restart of scar")
	if err != nil || n != 1 {
		t.Fatalf("EndBakes: %d, %v; want the one baking", n, err)
	}
	for id, want := range map[string]string{"d1": "passed", "d2": "ended by restart of scar"} {
		if d, err := db.Deployment(ctx, id); err != nil || d.Bake != want {
			t.Errorf("%s: bake %q (%v), want %q", id, d.Bake, err, want)
		}
	}
}
