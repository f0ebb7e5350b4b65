package handlers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/internal/telegramfake"
)

var _ StatsReader = (*dockerops.Service)(nil)

// statsFake adds Stats to the harness's Operations.
type statsFake struct {
	Operations
	fn func(ctx context.Context, project string) (*dockerops.ProjectStats, error)
}

func (f statsFake) Stats(ctx context.Context, project string) (*dockerops.ProjectStats, error) {
	return f.fn(ctx, project)
}

func TestStatsCommand(t *testing.T) {
	var asked []string
	withStats := func(_ *Config, d *Deps) {
		d.Ops = statsFake{Operations: d.Ops, fn: func(_ context.Context, project string) (*dockerops.ProjectStats, error) {
			asked = append(asked, project)
			if project == "secret-app" {
				return nil, fmt.Errorf("stats of %s: %w", project, dockerops.ErrDockerUnavailable)
			}
			return &dockerops.ProjectStats{Project: project, Containers: []dockerops.ContainerStats{
				{Name: "backend", State: "running", CPUPercent: 112.54, OnlineCPUs: 2, MemoryBytes: 3670016, MemoryLimitBytes: 64 << 20,
					MemoryPercent: 5.47, NetRxBytes: 1234, BlockReadBytes: 4096, PIDs: 8},
				{Name: "po-<x>-1", State: "exited"},
				{Name: "po-redis-1", State: dockerops.StateNotFound},
			}}, nil
		}}
	}
	h := newHarness(t, withStats)
	h.send(reader.ID, reader, "/docker_stats")
	got := rendered(t, h.waitSent(reader.ID, "Stats"))
	want := "📊 Project-Orchestrator - Stats\n" +
		"CONTAINER   CPU     MEM / LIMIT (%)           NET RX/TX    BLOCK R/W    PIDS\n" +
		"backend     112.5%  3.50MiB / 64.0MiB (5.5%)  1.23kB / 0B  4.10kB / 0B  8\n" +
		"po-<x>-1    -       exited\n" +
		"po-redis-1  -       not found\n" +
		"CPU: 100% is one core of 2.\n" +
		"👉 Next: /docker_status · /docker_logs"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if !strings.Contains(h.waitSent(reader.ID, "Stats").String("text"), "<pre>") {
		t.Errorf("the table is not preformatted")
	}

	for _, tc := range []struct{ text, want string }{
		{"/docker_stats secret-app", "Docker"},
		{"/docker_stats nope", "Unknown project"},
		{"/docker_stats a b", "usage: /docker_stats [project]"},
	} {
		h.send(admin.ID, admin, tc.text)
		h.waitSent(admin.ID, tc.want)
	}
	if strings.Join(asked, " ") != "project-orchestrator secret-app" {
		t.Errorf("Stats asked for %v", asked)
	}
}

func TestStatsCommandWithoutStats(t *testing.T) {
	h := newHarness(t)
	h.send(admin.ID, admin, "/docker_stats")
	h.waitSent(admin.ID, "cannot read container stats")
}

// TestStatsCommandOnTheRealEngine: /docker_stats of a project of two running
// containers on the real engine shows a row of figures for each.
func TestStatsCommandOnTheRealEngine(t *testing.T) {
	cp, real := dockerProject(t)
	h := newHarness(t, real)
	h.post(telegramfake.Message(h.id(), admin.ID, admin, "/docker_stats"))
	text := rendered(t, h.waitSentWithin(admin.ID, "Stats", time.Minute))
	t.Logf("stats:\n%s", text)
	for _, name := range []string{dockertest.V2Name(cp, "web", 1), dockertest.V2Name(cp, "cache", 1)} {
		row := ""
		for line := range strings.Lines(text) {
			if strings.HasPrefix(line, name+" ") {
				row = line
			}
		}
		if !strings.Contains(row, "%  ") || !strings.Contains(row, "MiB / ") || strings.Contains(row, "not found") {
			t.Errorf("row of %s: %q", name, row)
		}
	}
}
