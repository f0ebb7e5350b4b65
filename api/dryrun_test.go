package api

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/store"
)

// planOnlyOps answers PlanDeploy; every other operation is an error in the test.
type planOnlyOps struct {
	refusingOps
}

func (o planOnlyOps) PlanDeploy(ctx context.Context, project string) (*dockerops.DeployPlan, error) {
	return &dockerops.DeployPlan{Project: project, Changed: []string{"app.py"}, Bytes: 12}, nil
}

// TestReadTokenMayPlanADeploy: a dry run changes nothing, so a read-only token gets
// the plan (200); the deploy itself still needs a full token (403, nothing run).
func TestReadTokenMayPlanADeploy(t *testing.T) {
	d := testDeps(t, nil)
	d.Ops = planOnlyOps{refusingOps{t: t}}
	db := d.Audit.(*store.DB)
	h := NewServer(d)
	since := time.Now()

	rec := do(t, h, "POST", "/api/v1/projects/demo/deploy", readToken, `{"dry_run": true}`)
	if rec.Code != 200 {
		t.Fatalf("dry run with a read token: %d %s, want 200 and the plan", rec.Code, rec.Body)
	}
	var body struct {
		Plan struct {
			Changed []string `json:"changed"`
		} `json:"plan"`
		NothingToDeploy bool `json:"nothing_to_deploy"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body.Plan.Changed) != 1 || body.NothingToDeploy {
		t.Errorf("dry run body %s (%v), want the plan", rec.Body, err)
	}
	for _, req := range []string{"", `{}`, `{"dry_run": false}`} {
		rec := do(t, h, "POST", "/api/v1/projects/demo/deploy", readToken, req)
		if rec.Code != 403 || errorCode(t, rec) != "forbidden" {
			t.Errorf("deploy %q with a read token: %d %s, want 403 forbidden", req, rec.Code, rec.Body)
		}
	}
	entries, err := db.Audit(context.Background(), "demo", since, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := len(entries) - 1; i >= 0; i-- {
		got = append(got, entries[i].Action+":"+entries[i].Outcome)
	}
	if want := "deploy_plan:ok deploy:refused deploy:refused deploy:refused"; len(got) != 4 || got[0] != "deploy_plan:ok" || got[3] != "deploy:refused" {
		t.Errorf("audit %v, want %s", got, want)
	}
}
