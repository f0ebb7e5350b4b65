package store

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestAuditFollowsDeploymentOutcome: an audit row written for a deploy that runs in the
// background ends with the deploy's outcome, whether the deploy finishes after the row
// is written or before.
func TestAuditFollowsDeploymentOutcome(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	start := func(id string) {
		t.Helper()
		if err := db.CreateDeployment(ctx, DeploymentRecord{ID: id, Project: "p", Kind: "deploy", Who: "api:x", StartedAt: time.Now(), Status: "running"}); err != nil {
			t.Fatal(err)
		}
	}
	finish := func(id, status string) {
		t.Helper()
		if err := db.FinishDeployment(ctx, DeploymentRecord{ID: id, FinishedAt: time.Now(), Status: status}); err != nil {
			t.Fatal(err)
		}
	}
	audit := func(id string) {
		t.Helper()
		if err := db.RecordAudit(ctx, AuditEntry{Who: "api:x", Action: "deploy", Project: "p", Outcome: "running", Detail: id, DeploymentID: id}); err != nil {
			t.Fatal(err)
		}
	}
	start("after-fail")
	audit("after-fail")
	finish("after-fail", "failed_rolled_back")
	start("after-ok")
	audit("after-ok")
	finish("after-ok", "success")
	start("before")
	finish("before", "rollback_failed")
	audit("before")
	start("still")
	audit("still")

	entries, err := db.Audit(ctx, "p", time.Time{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"after-fail": "failed_rolled_back", "after-ok": "ok", "before": "rollback_failed", "still": "running"}
	if len(entries) != len(want) {
		t.Fatalf("%d entries, want %d: %+v", len(entries), len(want), entries)
	}
	for _, e := range entries {
		if e.Outcome != want[e.DeploymentID] {
			t.Errorf("deploy %s audited %q, want %q", e.DeploymentID, e.Outcome, want[e.DeploymentID])
		}
	}
}

// TestAuditDetailClipped: a detail longer than MaxAuditDetail is cut at a rune boundary
// and says so.
func TestAuditDetailClipped(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	long := strings.Repeat("é", MaxAuditDetail)
	if err := db.RecordAudit(ctx, AuditEntry{Who: "w", Action: "restart", Outcome: "error", Detail: long}); err != nil {
		t.Fatal(err)
	}
	entries, err := db.Audit(ctx, "", time.Time{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	d := entries[0].Detail
	if len(d) > MaxAuditDetail || !strings.HasSuffix(d, "…") || !strings.HasPrefix(d, "éé") {
		t.Errorf("detail of %d bytes not clipped to %d with a mark: %q…", len(d), MaxAuditDetail, d[:20])
	}
}

// TestPruneKeepsRecentRunningAndNewest: retention removes audit rows, deployments and
// their events older than the cutoff, but never a running deployment nor a project's
// newest one.
func TestPruneKeepsRecentRunningAndNewest(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	now := time.Now()
	old := now.Add(-100 * 24 * time.Hour)
	add := func(id, project, status string, at time.Time) {
		t.Helper()
		if err := db.CreateDeployment(ctx, DeploymentRecord{ID: id, Project: project, Kind: "deploy", Who: "w", StartedAt: at, Status: "running"}); err != nil {
			t.Fatal(err)
		}
		if err := db.AddEvent(ctx, id, EventRecord{At: at, Stage: "plan", Message: "m"}); err != nil {
			t.Fatal(err)
		}
		if status != "running" {
			if err := db.FinishDeployment(ctx, DeploymentRecord{ID: id, FinishedAt: at, Status: status}); err != nil {
				t.Fatal(err)
			}
		}
	}
	add("p-old1", "p", "success", old)
	add("p-old2", "p", "failed_rolled_back", old.Add(time.Minute))
	add("p-running", "p", "running", old.Add(2*time.Minute))
	add("p-new", "p", "success", now)
	add("q-only", "q", "success", old) // q's newest: kept
	for _, at := range []time.Time{old, now} {
		if err := db.RecordAudit(ctx, AuditEntry{At: at, Who: "w", Action: "status", Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
	}

	n, err := db.Prune(ctx, now.Add(-90*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n.Deployments != 2 || n.Audit != 1 || n.Events != 2 {
		t.Errorf("pruned %+v, want 2 deployments, 2 events, 1 audit row", n)
	}
	for id, kept := range map[string]bool{"p-old1": false, "p-old2": false, "p-running": true, "p-new": true, "q-only": true} {
		d, err := db.Deployment(ctx, id)
		if kept && (err != nil || len(d.Events) != 1) {
			t.Errorf("%s: want kept with its event, got %v", id, err)
		}
		if !kept && err == nil {
			t.Errorf("%s: want pruned, still there", id)
		}
	}
	entries, err := db.Audit(ctx, "", time.Time{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].At.Before(now.Add(-time.Second)) {
		t.Errorf("audit after prune: %+v, want the recent row only", entries)
	}
}
