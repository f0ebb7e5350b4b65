package handlers

import (
	"context"
	"strings"
	"testing"

	"github.com/scar-dev/scar/dockerops"
)

var _ OverviewReader = (*dockerops.Service)(nil)

// overviewFake adds Overview to the harness's Operations.
type overviewFake struct {
	Operations
	answer *dockerops.Overview
}

func (f overviewFake) Overview(context.Context) (*dockerops.Overview, error) { return f.answer, nil }

// TestOverviewCommand: one line a project the user may see, trouble first, with a
// line for a host that could not be asked; a project only others may use is left out.
func TestOverviewCommand(t *testing.T) {
	const host, far = "unix:///var/run/docker.sock", "tcp://10.0.0.9:2376"
	withOverview := func(_ *Config, d *Deps) {
		d.Ops = overviewFake{Operations: d.Ops, answer: &dockerops.Overview{
			Hosts: []dockerops.HostOverview{{Host: host, Available: true}, {Host: far, Error: "Docker on " + far + " did not answer within 3s"}},
			Projects: []dockerops.ProjectOverview{
				{Project: "project-orchestrator", Host: host, Running: 2, Expected: 3, Down: []string{"po-redis-1"},
					Unhealthy: []string{"<b>ackend"}, OpenIncidents: 1, PendingChanges: true},
				{Project: "secret-app", Host: host, Running: 1, Expected: 1},
			},
		}}
	}
	h := newHarness(t, withOverview)
	h.send(reader.ID, reader, "/docker_overview")
	got := rendered(t, h.waitSent(reader.ID, "Overview"))
	want := "🗺 Overview - 1 project on 2 hosts\n" +
		"🔌 Docker on tcp://10.0.0.9:2376 did not answer within 3s\n" +
		"🔴 project-orchestrator 2/3 running · down: po-redis-1 · unhealthy: <b>ackend · 1 open incident · 📦 undeployed changes\n" +
		"👉 Next: /docker_status project-orchestrator"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if text := h.waitSent(reader.ID, "Overview").String("text"); !strings.Contains(text, "&lt;b&gt;ackend") {
		t.Errorf("a container name is not escaped: %s", text)
	}
}
