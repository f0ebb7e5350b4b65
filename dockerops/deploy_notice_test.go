package dockerops

import (
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/store"
)

func TestDeployNoticeKinds(t *testing.T) {
	tests := []struct {
		name    string
		d       Deployment
		kind    string
		summary string
	}{
		{"gate failed, rolled back", Deployment{ID: "d1", Kind: KindDeploy, Status: DeployFailedRolledBack, FailedStep: StageHealth},
			store.KindDeployFailed, "deploy d1 failed at health and was rolled back"},
		{"bake failed, rolled back", Deployment{ID: "d2", Kind: KindDeploy, Status: DeployFailedRolledBack, FailedStep: StageBake},
			store.KindBakeFailed, "deploy d2 failed in its bake and was rolled back"},
		{"deploy's undo failed", Deployment{ID: "d3", Kind: KindDeploy, Status: DeployRollbackFailed, FailedStep: StageApply},
			store.KindRollbackFailed, "deploy d3 failed at apply and putting the previous version back failed too"},
		{"rollback failed", Deployment{ID: "r1", Kind: KindRollback, Status: DeployRollbackFailed, FailedStep: StageSync},
			store.KindRollbackFailed, "rollback r1 failed at sync"},
		{"success", Deployment{ID: "d4", Kind: KindDeploy, Status: DeploySuccess}, "", ""},
		{"cancelled", Deployment{ID: "d5", Kind: KindDeploy, Status: DeployCancelled, FailedStep: StageBuild}, "", ""},
		{"nothing to do", Deployment{Kind: KindDeploy, Status: DeployNothingToDo}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.d.Project, tc.d.Error, tc.d.LogTail = "shop", "web exited with code 3", []string{"line 1", "line 2"}
			in, ok := deployNotice(&tc.d)
			if ok != (tc.kind != "") {
				t.Fatalf("notice %v, want %v", ok, tc.kind != "")
			}
			if !ok {
				return
			}
			if in.Kind != tc.kind || in.Summary != tc.summary || in.Project != "shop" || in.DeploymentID != tc.d.ID ||
				in.Detail != "web exited with code 3\nline 1\nline 2" {
				t.Errorf("notice %+v; want kind %s, summary %q, the error and log tail as detail", in, tc.kind, tc.summary)
			}
		})
	}
}

// A deploy that fails its gate is rolled back as ever, and the alert chats get a
// deploy_failed notice: recorded resolved as it opened and published on the feed.
// What the failing deploy did to the containers opens no incident (scar's own).
func TestFailedDeployNoticeIsPublished(t *testing.T) {
	e := newBakeEnv(t, 0)
	events, unsubscribe := e.watcher.Subscribe(e.p.Name)
	defer unsubscribe()
	e.editCompose("VERSION: v1\n", "VERSION: v1\n      EXIT_AT_START: \"1\"\n")

	d := e.deploy()
	if d.Status != DeployFailedRolledBack {
		t.Fatalf("deploy %s at %s: %s; want it rolled back", d.Status, d.FailedStep, d.Error)
	}
	deadline := time.After(time.Minute)
	var published *store.Incident
	for published == nil {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("the feed dropped the test's subscription")
			}
			if ev.Incident != nil && ev.Incident.Kind == store.KindDeployFailed {
				published = ev.Incident
			}
		case <-deadline:
			t.Fatal("no deploy_failed incident on the feed within a minute")
		}
	}
	if published.DeploymentID != d.ID || published.Open() || !published.ResolvedAt.Equal(published.OpenedAt) ||
		!strings.Contains(published.Summary, "failed at "+d.FailedStep) || !strings.Contains(published.Detail, d.Error) {
		t.Errorf("published notice %+v; want deploy %s, resolved as it opened, with the step and the error", published, d.ID)
	}
	if got := e.incidents(store.KindDeployFailed); len(got) != 1 || got[0].ID != published.ID {
		t.Errorf("deploy_failed incidents in the store: %+v, want the one published", got)
	}
	if died := e.incidents(store.KindDied); len(died) != 0 {
		t.Errorf("the failing deploy's own container exit was alerted: %+v", died)
	}
}
