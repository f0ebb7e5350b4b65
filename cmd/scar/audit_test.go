package main

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/store"
)

// auditOf returns the audit log as served on /api/v1/audit.
func (s *server) auditOf(t *testing.T) []store.AuditEntry {
	t.Helper()
	code, body := s.get(t, "/api/v1/audit", e2eToken)
	if code != 200 {
		t.Fatalf("GET /api/v1/audit: %d %s", code, body)
	}
	var v struct {
		Entries []store.AuditEntry `json:"entries"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	return v.Entries
}

// TestRESTAuditFollowsDeployOutcome: on the real engine, a deploy that fails its
// health gate and is rolled back is audited failed_rolled_back, not ok; a deploy that
// succeeds is audited ok; a deploy with nothing to do answers without an id.
func TestRESTAuditFollowsDeployOutcome(t *testing.T) {
	f := newFaultProject(t, "audit")
	s := startServe(t, "SCAR_PROJECTS_FILE="+projectsFileOf(t, f.entry(`"health_timeout": "8s"`)), "SCAR_API_TOKENS="+e2eToken,
		"SCAR_COMPOSE_COMMAND="+strings.Join(f.compose, " "))

	resp, v := s.call(t, "POST", "/api/v1/projects/"+f.name+"/deploy", "")
	if _, hasID := v["id"]; resp.StatusCode != 200 || v["status"] != "nothing_to_do" || hasID || v["plan"] == nil || !strings.Contains(v["message"].(string), "nothing to deploy") {
		t.Errorf("deploy with nothing to do: %d %v, want 200 status nothing_to_do, a plan, a message, no id", resp.StatusCode, v)
	}

	f.edit(t, "content/index.txt", "content v2\n")
	ok := s.deploy(t, f.name, "deploy", dockerops.DeploySuccess)
	f.editCompose(t, "VERSION: v1", "VERSION: v2\n      UNHEALTHY: \"1\"")
	failed := s.deploy(t, f.name, "deploy", dockerops.DeployFailedRolledBack)

	want := map[string]string{ok["id"].(string): "ok", failed["id"].(string): dockerops.DeployFailedRolledBack}
	got := map[string]string{}
	outcomes := map[string]int{}
	for _, e := range s.auditOf(t) {
		if e.Action == "deploy" {
			outcomes[e.Outcome]++
			if e.DeploymentID != "" {
				got[e.DeploymentID] = e.Outcome
			}
		}
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("deploy %s audited %q, want %q (all deploy entries: %v)", id, got[id], w, outcomes)
		}
	}
	if outcomes[dockerops.DeployNothingToDo] != 1 {
		t.Errorf("deploy entries by outcome %v, want one nothing_to_do", outcomes)
	}
}

// TestServePrunesByRetention: at start, scar removes audit entries and finished
// deployments older than SCAR_RETENTION, and keeps a project's newest deployment.
func TestServePrunesByRetention(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-40 * 24 * time.Hour)
	for _, id := range []string{"old-1", "old-2"} {
		if err := db.CreateDeployment(ctx, store.DeploymentRecord{ID: id, Project: "demo", Kind: "deploy", Who: "w", StartedAt: old, Status: "running"}); err != nil {
			t.Fatal(err)
		}
		if err := db.FinishDeployment(ctx, store.DeploymentRecord{ID: id, FinishedAt: old, Status: "success"}); err != nil {
			t.Fatal(err)
		}
		old = old.Add(time.Minute)
	}
	if err := db.RecordAudit(ctx, store.AuditEntry{At: old, Who: "w", Action: "status", Outcome: "ok", Detail: "old entry"}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s := startServe(t, "SCAR_PROJECTS_FILE="+projectsFile(t, ""), "SCAR_API_TOKENS="+e2eToken, "SCAR_STATE_DIR="+dir, "SCAR_RETENTION=30d")
	for _, e := range s.auditOf(t) {
		if e.Detail == "old entry" {
			t.Errorf("an audit entry older than SCAR_RETENTION=30d is still there: %+v", e)
		}
	}
	if code, _ := s.get(t, "/api/v1/deployments/old-1", e2eToken); code != 404 {
		t.Errorf("the older deployment: %d, want 404 (pruned)", code)
	}
	if code, _ := s.get(t, "/api/v1/deployments/old-2", e2eToken); code != 200 {
		t.Errorf("the project's newest deployment: %d, want 200 (kept whatever its age)", code)
	}
	if !strings.Contains(s.logs.String(), `"msg":"retention: pruned the state store"`) {
		t.Errorf("no retention line in the log:\n%s", s.logs)
	}
}

func TestRetentionSetting(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{"90d", 90 * 24 * time.Hour, false},
		{"2160h", 2160 * time.Hour, false},
		{"0", 0, false},
		{"30m", 0, true},
		{"0d", 0, true},
		{"-5d", 0, true},
		{"ninety", 0, true},
	}
	for _, tc := range tests {
		got, err := parseRetention(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("parseRetention(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.bad)
		}
		if tc.bad && !strings.Contains(err.Error(), "SCAR_RETENTION") {
			t.Errorf("error %q does not name the variable", err)
		}
	}
	cfg, err := loadConfig(nil)
	if err != nil || cfg.retention != 90*24*time.Hour {
		t.Errorf("default retention %v (%v), want 90 days", cfg.retention, err)
	}
}

// TestRetentionGoroutineStops: the pruning goroutine has an owner: stop ends it and
// waits for it.
func TestRetentionGoroutineStops(t *testing.T) {
	db, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stop := startRetention(context.Background(), db, time.Hour, newLogger("json", io.Discard))
	done := make(chan struct{})
	go func() { stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("stop did not return within 5s")
	}
}
