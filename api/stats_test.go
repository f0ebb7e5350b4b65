package api

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/scar-dev/scar/dockerops"
)

var _ StatsReader = (*dockerops.Service)(nil)

// statsOps is Operations whose Stats runs statsFn; every other call fails the test.
type statsOps struct {
	refusingOps
	statsFn func(ctx context.Context, project string) (*dockerops.ProjectStats, error)
}

func (o statsOps) Stats(ctx context.Context, project string) (*dockerops.ProjectStats, error) {
	return o.statsFn(ctx, project)
}

func TestStatsRoute(t *testing.T) {
	answer := &dockerops.ProjectStats{Project: "demo", Containers: []dockerops.ContainerStats{
		{Name: "demo-web-1", State: "running", CPUPercent: 12.5, OnlineCPUs: 2, MemoryBytes: 4 << 20, MemoryLimitBytes: 64 << 20, MemoryPercent: 6.25, PIDs: 3},
	}}
	tests := []struct {
		name     string
		project  string
		err      error
		noStats  bool
		wantCode int
		wantErr  string
	}{
		{name: "stats", project: "demo", wantCode: 200},
		{name: "unknown project", project: "nope", err: fmt.Errorf("project %q: %w", "nope", dockerops.ErrUnknownProject), wantCode: 404, wantErr: "unknown_project"},
		{name: "docker down", project: "demo", err: fmt.Errorf("stats of demo: %w", dockerops.ErrDockerUnavailable), wantCode: 503, wantErr: "docker_unavailable"},
		{name: "operations without stats", project: "demo", noStats: true, wantCode: 503, wantErr: "not_available"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := testDeps(t, nil)
			var asked string
			d.Ops = statsOps{refusingOps: refusingOps{t: t}, statsFn: func(_ context.Context, project string) (*dockerops.ProjectStats, error) {
				asked = project
				if tc.err != nil {
					return nil, tc.err
				}
				return answer, nil
			}}
			if tc.noStats {
				d.Ops = refusingOps{t: t}
			}
			rec := do(t, NewServer(d), "GET", "/api/v1/projects/"+tc.project+"/stats", readToken, "")
			if rec.Code != tc.wantCode {
				t.Fatalf("%d %s, want %d", rec.Code, rec.Body, tc.wantCode)
			}
			if tc.wantErr != "" {
				if code := errorCode(t, rec); code != tc.wantErr {
					t.Errorf("error code %q, want %q", code, tc.wantErr)
				}
				return
			}
			if asked != tc.project {
				t.Errorf("Stats asked for %q", asked)
			}
			var got struct {
				Project    string           `json:"project"`
				Containers []map[string]any `json:"containers"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if got.Project != "demo" || len(got.Containers) != 1 || got.Containers[0]["cpu_percent"] != 12.5 || got.Containers[0]["memory_limit_bytes"] != float64(64<<20) {
				t.Errorf("body %s", rec.Body)
			}
			entries := auditEntries(t, d)
			if len(entries) == 0 || entries[len(entries)-1].Action != "stats" && entries[0].Action != "stats" {
				t.Errorf("audit %+v, want a stats entry", entries)
			}
		})
	}
}
