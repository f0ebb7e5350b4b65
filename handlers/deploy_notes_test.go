package handlers

import (
	"context"
	"strings"
	"testing"

	"github.com/scar-dev/scar/dockerops"
)

// TestDeployPlanNamesEditedKeptAndStrippedFiles (issue 12 defects 3 and 8): the
// Telegram plan names the production files edited by hand that the deploy overwrites,
// the env files it keeps, and the files it writes without setuid bits.
func TestDeployPlanNamesEditedKeptAndStrippedFiles(t *testing.T) {
	h := newHarness(t)
	plan := dockerops.DeployPlan{Project: "project-orchestrator", Changed: []string{"app/settings.py"}, Bytes: 10,
		EditedInProduction: []string{"app/settings.py"}, Kept: []string{".env", "<x>.env"}, SetuidStripped: []string{"bin/tool"}}
	h.deploys.PlanDeployFn = func(ctx context.Context, project string) (*dockerops.DeployPlan, error) { return &plan, nil }

	h.send(admin.ID, admin, "/docker_deploy")
	text := rendered(t, h.waitSent(admin.ID, "Deploy Workspace → Production"))
	for _, want := range []string{
		"⚠️ Edited in production since the last deploy (overwritten; the backup keeps them): app/settings.py",
		"🔒 Kept: production's own env files, not deployed: .env, <x>.env",
		"🛡 Deployed without setuid/setgid: bin/tool",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("plan lacks %q:\n%s", want, text)
		}
	}
}
