package handlers

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/dockerops"
)

// TestDeployPlanChangedAfterConfirmAsksAgain (issue 12.8): the workspace changes
// between the plan shown and the "yes": nothing is deployed, the new plan is shown
// and asked for again; confirming that one deploys it.
func TestDeployPlanChangedAfterConfirmAsksAgain(t *testing.T) {
	cp := newContentProject(t, "tgreplan")
	prod, ws, write := cp.prod, cp.ws, func(root, rel, body string) { cp.write(t, root, rel, body) }
	h := cp.harness(t)
	readProd := func(rel string) string {
		b, _ := os.ReadFile(filepath.Join(prod, rel))
		return string(b)
	}

	h.send(admin.ID, admin, "/docker_deploy")
	c := h.waitSentWithin(admin.ID, "Deploy Workspace → Production", time.Minute)
	if plan := rendered(t, c); !strings.Contains(plan, "web: restart — bind-mounts content/index.txt") {
		t.Errorf("the plan does not say that web is restarted and why:\n%s", plan)
	}
	// Edited after the plan was shown, before the "yes".
	write(ws, "content/index.txt", "v3\n")
	write(ws, "content/extra.txt", "new\n")
	h.press(admin.ID, admin, c.MessageID, buttons(t, c)[0])

	h.waitSentWithin(admin.ID, "changed after you confirmed", time.Minute)
	again := h.waitSentWithin(admin.ID, "(new plan)", time.Minute)
	if plan := rendered(t, again); !strings.Contains(plan, "content/extra.txt") {
		t.Errorf("the new plan does not list the new file:\n%s", plan)
	}
	if got := readProd("content/index.txt"); got != "v1\n" {
		t.Fatalf("production content %q before the new plan was confirmed, want v1 untouched", got)
	}
	h.press(admin.ID, admin, again.MessageID, buttons(t, again)[0])
	h.waitSentWithin(admin.ID, "Deployment complete!", 2*time.Minute)
	if got := readProd("content/index.txt"); got != "v3\n" {
		t.Errorf("production content %q after the confirmed new plan, want v3", got)
	}
	if got := readProd("content/extra.txt"); got != "new\n" {
		t.Errorf("content/extra.txt %q after the confirmed new plan", got)
	}
}

// TestRollbackConfirmationSaysWhatHappensToEachService: the rollback question names,
// per service the deploy acted on, what undoing it does.
func TestRollbackConfirmationSaysWhatHappensToEachService(t *testing.T) {
	h := newHarness(t)
	last := &dockerops.Deployment{ID: "d-8", Project: "project-orchestrator", Kind: dockerops.KindDeploy, Who: "telegram:42 (@sam)",
		Status: dockerops.DeploySuccess, StartedAt: time.Date(2025, 12, 20, 15, 30, 0, 0, time.UTC), Plan: dockerops.DeployPlan{
			Changed: []string{"docker-compose.yml"}, Services: []string{"cache", "old"},
			ServiceActions: []dockerops.ServiceAction{
				{Service: "cache", Action: dockerops.ActionCreate, Reason: "new service"},
				{Service: "db", Action: dockerops.ActionNone, Reason: "unchanged"},
				{Service: "old", Action: dockerops.ActionRemove, Reason: "removed from the Compose file"},
			}}}
	h.deploys.PlanRollbackFn = func(ctx context.Context, project string) (*dockerops.Deployment, error) { return last, nil }
	h.send(admin.ID, admin, "/docker_rollback")
	text := rendered(t, h.waitSent(admin.ID, "Roll Back Production — project-orchestrator"))
	for _, want := range []string{"cache: removed again (the deploy: create — new service)", "old: brought back (the deploy: remove — removed from the Compose file)", "left running: db"} {
		if !strings.Contains(text, want) {
			t.Errorf("rollback confirmation lacks %q:\n%s", want, text)
		}
	}
	if strings.Count(text, "Services:") != 1 {
		t.Errorf("services listed twice:\n%s", text)
	}
}
