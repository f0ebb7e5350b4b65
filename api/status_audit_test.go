package api

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/store"
)

// slowAuditor is the state store with audit writes that take a while, as on a busy disk.
type slowAuditor struct {
	*store.DB
	delay time.Duration
}

func (a slowAuditor) RecordAudit(ctx context.Context, e store.AuditEntry) error {
	time.Sleep(a.delay)
	return a.DB.RecordAudit(ctx, e)
}

// TestStatusAnswerEndsAfterItsAuditEntry: the status answer is encoded while its
// audit entry is written, but a client that has read the whole answer finds the
// entry in the audit log, however slow the write.
func TestStatusAnswerEndsAfterItsAuditEntry(t *testing.T) {
	d := testDeps(t, nil)
	d.Audit = slowAuditor{DB: d.Audit.(*store.DB), delay: 300 * time.Millisecond}
	d.Ops = statusOps{refusingOps: refusingOps{t: t}, statusFn: func(ctx context.Context, project string) (*dockerops.ProjectStatus, error) {
		return &dockerops.ProjectStatus{Project: project, Containers: []dockerops.ContainerStatus{}}, nil
	}}
	srv := httptest.NewServer(NewServer(d))
	defer srv.Close()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/api/v1/projects/demo/status", nil)
	req.Header.Set("Authorization", "Bearer "+readToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status: %d %s %v", resp.StatusCode, body, err)
	}
	var found bool
	for _, e := range auditEntries(t, d) {
		found = found || (e.Action == "status" && e.Project == "demo" && e.Outcome == "ok")
	}
	if !found {
		t.Errorf("no audit entry for the status once its answer was read: %+v", auditEntries(t, d))
	}
}
