package handlers

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/internal/telegramfake"
	"github.com/scar-dev/scar/store"
)

// TestDeployAuditFollowsOutcomeAfterBotStops: a deploy still running when the bot
// stops waiting for it (a shutdown) is audited all the same, and its entry ends with
// the deployment's real outcome once the deployment finishes.
func TestDeployAuditFollowsOutcomeAfterBotStops(t *testing.T) {
	h := newHarness(t)
	started := time.Now()
	running := &dockerops.Deployment{ID: "d-stop", Project: "project-orchestrator", Kind: dockerops.KindDeploy, Status: dockerops.DeployRunning, StartedAt: started}
	h.deploys.DeployFn = func(ctx context.Context, project string, who dockerops.Actor, progress dockerops.Progress) (*dockerops.Deployment, error) {
		// As dockerops does: the deployment is in the history, running.
		err := h.db.CreateDeployment(ctx, store.DeploymentRecord{ID: running.ID, Project: project, Kind: running.Kind, Who: who.Name, StartedAt: started, Status: running.Status})
		d := *running
		return &d, err
	}
	h.deploys.DeploymentFn = func(ctx context.Context, id string) (*dockerops.Deployment, error) {
		d := *running
		return &d, nil
	}

	h.send(admin.ID, admin, "/docker_deploy")
	h.waitSent(admin.ID, "Deploy Workspace → Production")
	h.send(admin.ID, admin, "yes")
	h.api.WaitFor(t, 5*time.Second, "the deploy to start", func([]telegramfake.Call) bool {
		_, err := h.db.Deployment(context.Background(), running.ID)
		return err == nil
	})

	// The bot stops while the deploy runs: its grace period ends at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.bot.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("shutdown with the deploy running: %v", err)
	}
	deployEntry := func() *store.AuditEntry {
		entries, err := h.db.Audit(context.Background(), "project-orchestrator", time.Time{}, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Action == "deploy" && e.DeploymentID == running.ID {
				return &e
			}
		}
		return nil
	}
	h.api.WaitFor(t, 5*time.Second, "the deploy's audit entry", func([]telegramfake.Call) bool { return deployEntry() != nil })
	if e := deployEntry(); e.Outcome != dockerops.DeployRunning {
		t.Errorf("entry of a deploy still running: %+v", e)
	}

	// The deploy ends after the bot stopped waiting (or at the next start's recovery).
	if err := h.db.FinishDeployment(context.Background(), store.DeploymentRecord{ID: running.ID, FinishedAt: time.Now(), Status: dockerops.DeployFailedRolledBack}); err != nil {
		t.Fatal(err)
	}
	if e := deployEntry(); e.Outcome != dockerops.DeployFailedRolledBack {
		t.Errorf("entry after the deploy failed: %+v, want outcome failed_rolled_back", e)
	}
}
