package api

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/gitsource"
)

// gitOps records what PlanDeploy, Deploy and PromoteCommit were asked, with the ref
// and promotion their context carried; err, when set, is what they answer.
type gitOps struct {
	refusingOps
	mu    sync.Mutex
	calls []string
	err   error
}

func (o *gitOps) record(ctx context.Context, op, project string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, fmt.Sprintf("%s %s ref=%s from=%s", op, project, dockerops.RefOf(ctx), dockerops.PromotionOf(ctx)))
}

func (o *gitOps) recorded() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.calls...)
}

func (o *gitOps) PlanDeploy(ctx context.Context, project string) (*dockerops.DeployPlan, error) {
	o.record(ctx, "plan", project)
	if o.err != nil {
		return nil, o.err
	}
	plan := emptyPlan(project)
	plan.Changed = []string{"app/basket.go"}
	plan.Commit = &gitsource.Commit{SHA: pushedSHA, Subject: "Fix the basket total", Author: "Ada Lovelace <ada@example.com>"}
	plan.PromotedFrom = dockerops.PromotionOf(ctx)
	return &plan, nil
}

func (o *gitOps) Deploy(ctx context.Context, project string, who dockerops.Actor, progress dockerops.Progress) (*dockerops.Deployment, error) {
	o.record(ctx, "deploy", project)
	if o.err != nil {
		return nil, o.err
	}
	return &dockerops.Deployment{ID: "d-1", Project: project, Kind: "deploy", Who: who.Name, Status: dockerops.DeployRunning,
		StartedAt: time.Now(), Plan: emptyPlan(project)}, nil
}

func (o *gitOps) PromoteCommit(ctx context.Context, from, to string) (*gitsource.Commit, error) {
	o.record(ctx, "promote "+from+" to", to)
	if o.err != nil {
		return nil, o.err
	}
	return &gitsource.Commit{SHA: pushedSHA, Subject: "Fix the basket total", Author: "Ada Lovelace <ada@example.com>", Branch: "develop"}, nil
}

// TestDeployAndPromoteRouting: a deploy's ref and a promotion's commit and source
// reach the plan and the deploy; promote takes deploy's access rules; git errors
// answer their codes.
func TestDeployAndPromoteRouting(t *testing.T) {
	o := loadOpenAPI(t)
	cases := []struct {
		name, path, token, body string
		err                     error
		status                  int
		code                    string
		calls                   []string
		audit                   string
	}{
		{name: "deploy with ref", path: "/api/v1/projects/demo/deploy", token: fullToken, body: `{"ref": "v1.2.0"}`, status: 202,
			calls: []string{"deploy demo ref=v1.2.0 from="}, audit: "deploy"},
		{name: "deploy dry run with ref", path: "/api/v1/projects/demo/deploy", token: readToken, body: `{"ref": "develop", "dry_run": true}`, status: 200,
			calls: []string{"plan demo ref=develop from="}, audit: "deploy_plan"},
		{name: "deploy without ref", path: "/api/v1/projects/demo/deploy", token: fullToken, body: `{}`, status: 202,
			calls: []string{"deploy demo ref= from="}, audit: "deploy"},
		{name: "unknown ref", path: "/api/v1/projects/demo/deploy", token: fullToken, body: `{"ref": "nosuch"}`,
			err: fmt.Errorf("checkout nosuch: %w", dockerops.ErrUnknownRef), status: 422, code: "unknown_ref",
			calls: []string{"deploy demo ref=nosuch from="}, audit: "deploy"},
		{name: "remote down", path: "/api/v1/projects/demo/deploy", token: fullToken, body: `{"ref": "main", "dry_run": true}`,
			err: fmt.Errorf("fetch: %w", dockerops.ErrGitRemote), status: 502, code: "git_unavailable",
			calls: []string{"plan demo ref=main from="}, audit: "deploy_plan"},
		{name: "promote", path: "/api/v1/projects/shop/promote", token: fullToken, body: `{"from": "shop-staging"}`, status: 202,
			calls: []string{"promote shop-staging to shop ref= from=", "deploy shop ref=" + pushedSHA + " from=shop-staging"}, audit: "promote"},
		{name: "promote dry run", path: "/api/v1/projects/shop/promote", token: readToken, body: `{"from": "shop-staging", "dry_run": true}`, status: 200,
			calls: []string{"promote shop-staging to shop ref= from=", "plan shop ref=" + pushedSHA + " from=shop-staging"}, audit: "promote_plan"},
		{name: "promote with a read token", path: "/api/v1/projects/shop/promote", token: readToken, body: `{"from": "shop-staging"}`,
			status: 403, code: "forbidden", audit: "promote"},
		{name: "promote without from", path: "/api/v1/projects/shop/promote", token: fullToken, body: `{}`,
			status: 400, code: "bad_input", audit: "promote"},
		{name: "promote from a project never deployed", path: "/api/v1/projects/shop/promote", token: fullToken, body: `{"from": "shop-staging"}`,
			err: fmt.Errorf("promote: %w", dockerops.ErrNotDeployed), status: 409, code: "not_deployed",
			calls: []string{"promote shop-staging to shop ref= from="}, audit: "promote"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := testDeps(t, nil)
			ops := &gitOps{refusingOps: refusingOps{t: t}, err: tc.err}
			d.Ops = ops
			rec := do(t, NewServer(d), "POST", tc.path, tc.token, tc.body)
			if rec.Code != tc.status || (tc.code != "" && errorCode(t, rec) != tc.code) {
				t.Fatalf("answered %d %s, want %d %s", rec.Code, clip(rec.Body.Bytes()), tc.status, tc.code)
			}
			o.check(t, httptest.NewRequest("POST", tc.path, nil), rec.Code, rec.Header(), rec.Body.Bytes())
			if got := ops.recorded(); fmt.Sprint(got) != fmt.Sprint(tc.calls) {
				t.Errorf("operations %q, want %q", got, tc.calls)
			}
			entries := auditEntries(t, d)
			if len(entries) != 1 || entries[0].Action != tc.audit {
				t.Errorf("audit %+v, want one %s entry", entries, tc.audit)
			}
		})
	}
}
