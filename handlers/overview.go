package handlers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/scar-dev/scar/dockerops"
)

// OverviewReader is the dockerops call behind /docker_overview; *dockerops.Service
// satisfies it. It is asked of Deps.Ops, as StatsReader is.
type OverviewReader interface {
	Overview(ctx context.Context) (*dockerops.Overview, error)
}

// overview answers every project the user may see, one line each, worst first.
func (b *Bot) overview(ctx context.Context, in *request) string {
	reader, ok := b.ops.(OverviewReader)
	if !ok {
		return "⚠️ This scar cannot give an overview.\n" + next("/docker_status")
	}
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	ov, err := reader.Overview(ctx)
	b.record(ctx, in.who(), "overview", "", auditOutcome(err), "")
	if err != nil {
		return errorText("make the overview", err) + "\n" + next("/docker_projects")
	}
	visible := b.visibleProjects(in.user.ID)
	var ps []dockerops.ProjectOverview
	for _, p := range ov.Projects {
		if slices.Contains(visible, p.Project) {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		return "No projects are configured for you."
	}
	b.sendReply(ctx, in.chatID, formatOverview(ov.Hosts, ps))
	return ""
}

// formatOverview shows one line a project, those with trouble first, and a line for
// each host that could not be asked.
func formatOverview(hosts []dockerops.HostOverview, ps []dockerops.ProjectOverview) *reply {
	r := &reply{}
	r.add("🗺 <b>Overview</b> - %s on %s", plural(len(ps), "project"), plural(len(hosts), "host"))
	for _, h := range hosts {
		if !h.Available {
			r.add("🔌 %s", esc(clip(h.Error, 2*maxDynamic)))
		}
	}
	slices.SortStableFunc(ps, func(a, b dockerops.ProjectOverview) int { return trouble(b) - trouble(a) })
	for _, p := range ps {
		if p.Error != "" {
			r.add("❌ <b>%s</b> - %s", esc(p.Project), esc(clip(p.Error, 2*maxDynamic)))
			continue
		}
		mark := "✅"
		switch {
		case p.Running < p.Expected:
			mark = "🔴"
		case len(p.Unhealthy) > 0 || p.OpenIncidents > 0:
			mark = "⚠️"
		}
		var notes []string
		if len(p.Down) > 0 {
			notes = append(notes, "down: "+esc(clip(strings.Join(p.Down, ", "), maxDynamic)))
		}
		if len(p.Unhealthy) > 0 {
			notes = append(notes, "unhealthy: "+esc(clip(strings.Join(p.Unhealthy, ", "), maxDynamic)))
		}
		if p.OpenIncidents > 0 {
			notes = append(notes, plural(p.OpenIncidents, "open incident"))
		}
		if p.PendingChanges {
			notes = append(notes, "📦 undeployed changes")
		}
		line := fmt.Sprintf("%s <b>%s</b> %d/%d running", mark, esc(p.Project), p.Running, p.Expected)
		if len(notes) > 0 {
			line += " · " + strings.Join(notes, " · ")
		}
		r.add("%s", line)
	}
	worst := ps[0].Project
	r.add("%s", next("/docker_status "+esc(worst)))
	return r
}

// trouble orders the overview: a project that cannot be asked, then one with
// containers down, then unhealthy or with open incidents, then the rest.
func trouble(p dockerops.ProjectOverview) int {
	switch {
	case p.Error != "":
		return 3
	case p.Running < p.Expected:
		return 2
	case len(p.Unhealthy) > 0 || p.OpenIncidents > 0:
		return 1
	}
	return 0
}
