package api

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/scar-dev/scar/dockerops"
)

var _ OverviewReader = (*dockerops.Service)(nil)

// overviewOps is Operations whose Overview answers answer; every other call fails the test.
type overviewOps struct {
	refusingOps
	answer *dockerops.Overview
}

func (o overviewOps) Overview(context.Context) (*dockerops.Overview, error) { return o.answer, nil }

func TestOverviewRoute(t *testing.T) {
	answer := &dockerops.Overview{
		Hosts: []dockerops.HostOverview{{Host: "unix:///var/run/docker.sock", Available: true, DurationMS: 3}},
		Projects: []dockerops.ProjectOverview{{Project: "demo", Host: "unix:///var/run/docker.sock", Running: 1, Expected: 2,
			Down: []string{"demo-worker-1"}, Unhealthy: []string{}, OpenIncidents: 1, PendingChanges: true}},
	}
	t.Run("read token", func(t *testing.T) {
		d := testDeps(t, nil)
		d.Ops = overviewOps{refusingOps: refusingOps{t: t}, answer: answer}
		rec := do(t, NewServer(d), "GET", "/api/v1/overview", readToken, "")
		if rec.Code != 200 {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		var got struct {
			Hosts    []map[string]any `json:"hosts"`
			Projects []map[string]any `json:"projects"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Hosts) != 1 || got.Hosts[0]["available"] != true || len(got.Projects) != 1 ||
			got.Projects[0]["expected"] != float64(2) || got.Projects[0]["pending_changes"] != true {
			t.Errorf("body %s", rec.Body)
		}
		if entries := auditEntries(t, d); len(entries) == 0 || entries[len(entries)-1].Action != "overview" {
			t.Errorf("audit %+v, want an overview entry", entries)
		}
	})
	t.Run("operations without an overview", func(t *testing.T) {
		d := testDeps(t, nil)
		d.Ops = refusingOps{t: t}
		rec := do(t, NewServer(d), "GET", "/api/v1/overview", readToken, "")
		if rec.Code != 503 || errorCode(t, rec) != "not_available" {
			t.Errorf("%d %s, want 503 not_available", rec.Code, rec.Body)
		}
	})
}
