package dockerops

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/events"

	"github.com/scar-dev/scar/projects"
)

// eventLabels are the actions counted by name in scar_container_events_total; any
// other (a stream that sends what it should not) is counted as "other", so that the
// label set stays small.
var eventLabels = map[events.Action]bool{
	events.ActionStart: true, events.ActionRestart: true, events.ActionDie: true, events.ActionOOM: true,
	events.ActionKill: true, events.ActionStop: true, events.ActionDestroy: true,
	events.ActionHealthStatusHealthy: true, events.ActionHealthStatusUnhealthy: true,
	events.ActionHealthStatusRunning: true,
}

// handle handles one event from the stream and moves the cursor past it. An event
// that cannot be used (no container, no time) is logged once and skipped; an error
// is returned only when the store failed, and then the cursor stays before the
// event so that the next connection brings it again.
func (w *Watcher) handle(ctx context.Context, m events.Message) error {
	at := eventTime(m)
	if m.Type != events.ContainerEventType || m.Actor.ID == "" || at.IsZero() {
		w.warnOnce("malformed", "event watcher: skipping an event that names no container or time",
			"type", m.Type, "action", m.Action, "actor", m.Actor.ID, "time", m.TimeNano)
		return nil
	}
	key := eventKey(m, at)
	if w.cursor.handled(at, key) {
		return nil
	}
	if err := w.process(ctx, m, at); err != nil {
		// The stream is dropped and taken up again from the cursor, which is still
		// before this event: it comes again.
		return fmt.Errorf("handle the %s event of container %s: %w", m.Action, m.Actor.ID, err)
	}
	if w.cursor.advance(at, key) {
		if err := w.cfg.Incidents.SetWatchCursor(ctx, w.cfg.Host, w.cursor.at, w.cursor.seen); err != nil {
			// The event is handled; a crash before the next cursor write repeats it,
			// which is harmless (see cursor).
			w.warnOnce("cursor", "event watcher: cannot save its place in the event stream", "err", err)
		}
	}
	return nil
}

func eventTime(m events.Message) time.Time {
	switch {
	case m.TimeNano > 0:
		return time.Unix(0, m.TimeNano)
	case m.Time > 0:
		return time.Unix(m.Time, 0)
	}
	return time.Time{}
}

// process counts the event, publishes it when its container belongs to a project,
// and opens, updates or resolves the incidents it concerns.
func (w *Watcher) process(ctx context.Context, m events.Message, at time.Time) error {
	attrs := m.Actor.Attributes
	project := w.projectOf(attrs)
	label := string(m.Action)
	if !eventLabels[m.Action] {
		label = "other"
	}
	w.cfg.Metrics.ContainerEvents.WithLabelValues(project, label).Inc()
	if project == "" {
		return nil
	}
	ev := WatchEvent{
		At: at, Host: w.cfg.Host, Project: project,
		Container: strings.TrimPrefix(attrs["name"], "/"), ContainerID: m.Actor.ID,
		Service: attrs[labelService], Action: string(m.Action), signal: attrs["signal"],
	}
	if m.Action == events.ActionDie {
		if code, err := strconv.Atoi(attrs["exitCode"]); err == nil {
			ev.ExitCode = &code
		}
	}
	w.feed.publish(ev)
	return w.incidentsOf(ctx, ev)
}

// projectOf maps a container, by the labels and name its event carries, to the
// configured project it belongs to, by the rules of status (see resolve.go): a
// Compose service container (oneoff=False) of the project's Compose project that
// the project takes (all of them, or the ones its containers list names), or a
// container its containers list names. "" when none; the first project by name
// when several claim it.
func (w *Watcher) projectOf(attrs map[string]string) string {
	name := strings.TrimPrefix(attrs["name"], "/")
	m := &member{name: name, project: attrs[labelProject], service: attrs[labelService]}
	m.number, _ = strconv.Atoi(attrs[labelContainerNumber])
	service := m.project != "" && attrs[labelOneoff] == "False"
	for _, p := range w.cfg.Projects.All() {
		if service && p.ComposeProject == m.project && (p.DetectsByLabel() || listNames(p, m)) {
			return p.Name
		}
		// A plain container, or any container, that the list names by its own name.
		if name != "" && containsName(p.Containers, name) {
			return p.Name
		}
	}
	return ""
}

// listNames reports whether the project's containers list designates m.
func listNames(p *projects.Project, m *member) bool {
	for _, e := range p.Containers {
		if m.matches(e) {
			return true
		}
	}
	return false
}

func containsName(entries []string, name string) bool {
	for _, e := range entries {
		if strings.TrimPrefix(e, "/") == name {
			return true
		}
	}
	return false
}
