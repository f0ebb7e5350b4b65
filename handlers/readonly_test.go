package handlers

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scar-dev/scar/dockerops"
)

// TestReadOnlyUserSeesTheDeployPlan: a dry run changes nothing, so /docker_deploy
// from a read-only user shows the plan, with no confirm button and a line saying they
// may not deploy; nothing is waiting for a confirmation after it, and "yes" deploys
// nothing.
func TestReadOnlyUserSeesTheDeployPlan(t *testing.T) {
	h := newHarness(t)
	var deployed atomic.Bool
	h.deploys.DeployFn = func(context.Context, string, dockerops.Actor, dockerops.Progress) (*dockerops.Deployment, error) {
		deployed.Store(true)
		return nil, dockerops.ErrBadInput
	}
	h.send(reader.ID, reader, "/docker_deploy")
	c := h.waitSent(reader.ID, "Deploy Workspace → Production")
	text := rendered(t, c)
	for _, want := range []string{"app.py", "1 changed", "read-only", "may not deploy"} {
		if !strings.Contains(text, want) {
			t.Errorf("plan for a read-only user lacks %q:\n%s", want, text)
		}
	}
	if b := buttons(t, c); len(b) != 0 {
		t.Errorf("a read-only user got buttons %v under the plan", b)
	}
	h.send(reader.ID, reader, "yes")
	h.waitSent(reader.ID, "Nothing is waiting for a confirmation")
	if deployed.Load() {
		t.Error("a read-only user's yes deployed")
	}
	entries, err := h.db.Audit(context.Background(), "", time.Time{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Action != "deploy_plan" || entries[0].Outcome != "ok" {
		t.Errorf("audit %+v, want one deploy_plan ok", entries)
	}
}
