package api

// Fault matrix of issue 7, REST half of one row (the rest is in handlers/faults_test.go
// and cmd/scar/faults_test.go, whose header has the whole table):
//
//	row 5  read-only token on a write route: 403, audited as refused, nothing run
//	       → TestFaultRefusedToken

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/gitsource"
	"github.com/scar-dev/scar/store"
)

// refusingOps is Operations whose every call fails the test: a refused request must
// not reach one.
type refusingOps struct {
	t *testing.T
}

var _ Operations = refusingOps{}

func (o refusingOps) ran(op string) { o.t.Errorf("%s ran for a refused request", op) }

func (o refusingOps) Status(ctx context.Context, project string) (*dockerops.ProjectStatus, error) {
	o.ran("status")
	return nil, dockerops.ErrBadInput
}

func (o refusingOps) Logs(ctx context.Context, project string, req dockerops.LogsRequest) (*dockerops.LogsResult, error) {
	o.ran("logs")
	return nil, dockerops.ErrBadInput
}

func (o refusingOps) Restart(ctx context.Context, project string, req dockerops.RestartRequest, who dockerops.Actor, progress dockerops.Progress) (*dockerops.RestartResult, error) {
	o.ran("restart")
	return nil, dockerops.ErrBadInput
}

func (o refusingOps) PlanDeploy(ctx context.Context, project string) (*dockerops.DeployPlan, error) {
	o.ran("plan")
	return nil, dockerops.ErrBadInput
}

func (o refusingOps) Deploy(ctx context.Context, project string, who dockerops.Actor, progress dockerops.Progress) (*dockerops.Deployment, error) {
	o.ran("deploy")
	return nil, dockerops.ErrBadInput
}

func (o refusingOps) Rollback(ctx context.Context, project string, who dockerops.Actor, progress dockerops.Progress) (*dockerops.Deployment, error) {
	o.ran("rollback")
	return nil, dockerops.ErrBadInput
}

func (o refusingOps) History(ctx context.Context, project string, limit int) ([]dockerops.Deployment, error) {
	o.ran("history")
	return nil, dockerops.ErrBadInput
}

func (o refusingOps) Deployment(ctx context.Context, id string) (*dockerops.Deployment, error) {
	o.ran("deployment")
	return nil, dockerops.ErrBadInput
}

func (o refusingOps) CancelDeployment(ctx context.Context, id string, who dockerops.Actor) (*dockerops.Deployment, error) {
	o.ran("cancel")
	return nil, dockerops.ErrBadInput
}

// TestFaultRefusedToken: a read-only token on each write route is answered 403, runs
// nothing, and leaves one audit entry saying who was refused what, from where.
func TestFaultRefusedToken(t *testing.T) {
	d := testDeps(t, nil)
	d.Ops = refusingOps{t: t}
	db := d.Audit.(*store.DB)
	h := NewServer(d)
	tests := []struct {
		method, path, body string
		action, project    string
	}{
		{"POST", "/api/v1/projects/demo/restart", `{"containers": ["web"]}`, "restart", "demo"},
		{"POST", "/api/v1/projects/demo/stop", `{"containers": ["web"]}`, "stop", "demo"},
		{"POST", "/api/v1/projects/demo/start", "", "start", "demo"},
		{"POST", "/api/v1/projects/demo/deploy", "", "deploy", "demo"},
		{"POST", "/api/v1/projects/demo/deploy", `{"dry_run": false}`, "deploy", "demo"},
		{"POST", "/api/v1/projects/demo/rollback", "", "rollback", "demo"},
		{"POST", "/api/v1/deployments/20260101-000000-abcd0123/cancel", "", "cancel", ""},
		{"GET", "/api/v1/audit", "", "audit", ""},
	}
	readName := NewTokens(nil, []string{readToken}).entries[0].name
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path+" "+tc.body, func(t *testing.T) {
			since := time.Now()
			rec := do(t, h, tc.method, tc.path, readToken, tc.body)
			if rec.Code != 403 || errorCode(t, rec) != "forbidden" {
				t.Fatalf("answered %d %s, want 403 forbidden", rec.Code, rec.Body)
			}
			entries, err := db.Audit(context.Background(), "", since, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 {
				t.Fatalf("%d audit entries for one refused request, want 1: %+v", len(entries), entries)
			}
			e := entries[0]
			if e.Outcome != "refused" || e.Action != tc.action || e.Project != tc.project || e.Who != readName ||
				e.Source != "192.0.2.1" || !strings.Contains(e.Detail, "read-only") {
				t.Errorf("audit entry %+v, want %s of %q refused for %s from 192.0.2.1 (read-only token)", e, tc.action, tc.project, readName)
			}
			if strings.Contains(e.Who+e.Detail+e.Source, readToken) {
				t.Errorf("the audit entry shows the token: %+v", e)
			}
		})
	}
}

func (o refusingOps) PromoteCommit(ctx context.Context, from, to string) (*gitsource.Commit, error) {
	o.ran("promote")
	return nil, dockerops.ErrBadInput
}
