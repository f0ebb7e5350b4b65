package handlers

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mymmrac/telego"

	"github.com/scar-dev/scar/store"
)

// alertLimit is what an alert message may hold: Telegram's limit less a margin for
// the "…and N more" line.
const alertLimit = messageLimit - 96

// maxAlertDetail bounds the detail (log tail, health output) of a one-alert message.
const maxAlertDetail = 3000

// alertTime is how alerts show a time: the server's clock in UTC, to the second.
func alertTime(t time.Time) string { return t.UTC().Format("15:04:05") + " UTC" }

// kindName is how an alert names an incident's kind.
func kindName(kind string) string {
	switch kind {
	case store.KindCrashLoop:
		return "crash loop"
	case store.KindDockerUnreachable:
		return "Docker unreachable"
	case store.KindDeployFailed:
		return "deploy failed"
	case store.KindRollbackFailed:
		return "rollback failed"
	case store.KindBakeFailed:
		return "bake failed, rolled back"
	case store.KindOOM:
		return "OOM"
	case store.KindPushStarted:
		return "push deploy started"
	case store.KindPushDeployed:
		return "deployed"
	}
	return kind
}

// notice reports a one-shot incident (a deploy's, a push's): it is born resolved and
// never "recovers".
func notice(in store.Incident) bool {
	switch in.Kind {
	case store.KindDeployFailed, store.KindRollbackFailed, store.KindBakeFailed,
		store.KindPushStarted, store.KindPushDeployed:
		return true
	}
	return false
}

// alertIcon marks an incident by kind, or as over.
func alertIcon(in store.Incident) string {
	switch {
	case in.Kind == store.KindPushStarted:
		return "🚀"
	case in.Kind == store.KindPushDeployed:
		return "✅"
	case notice(in):
		return "🚨"
	case !in.Open():
		return "✅"
	}
	switch in.Kind {
	case store.KindOOM:
		return "💥"
	case store.KindUnhealthy:
		return "🟠"
	case store.KindCrashLoop:
		return "🔁"
	case store.KindDockerUnreachable:
		return "🔌"
	}
	return "🔴"
}

// alertHeadline is an incident in one line: project, container, kind and reason, and
// how it ended.
func alertHeadline(in store.Incident) string {
	if in.Kind == store.KindDockerUnreachable {
		host := ""
		if in.Host != "" {
			host = " (" + esc(clip(in.Host, 80)) + ")"
		}
		if in.Open() {
			return fmt.Sprintf("🔌 Docker unreachable%s since %s", host, alertTime(in.EventAt))
		}
		return fmt.Sprintf("✅ Docker reachable again%s after %s (unreachable since %s)",
			host, duration(in.ResolvedAt.Sub(in.EventAt)), alertTime(in.EventAt))
	}
	var sb strings.Builder
	sb.WriteString(alertIcon(in) + " <b>" + esc(clip(in.Project, 80)) + "</b>")
	if in.Container != "" {
		sb.WriteString(" · " + esc(clip(in.Container, 120)))
	}
	sb.WriteString(" — " + esc(kindName(in.Kind)))
	if in.Summary != "" {
		sb.WriteString(": " + esc(clip(in.Summary, 300)))
	}
	if !in.Open() && !notice(in) {
		sb.WriteString(" · recovered after " + duration(in.ResolvedAt.Sub(in.EventAt)))
	}
	return sb.String()
}

// alertReply lays out the message that shows ins in one chat. One incident shows its
// detail; several show a line each. summary heads a message of alerts sent late. It
// reports whether every incident fitted under alertLimit; those that did not are
// counted in a last "…and N more" line.
func alertReply(ins []store.Incident, summary bool, maxAge time.Duration) (*reply, bool) {
	r := &reply{}
	if len(ins) == 1 && !summary {
		in := ins[0]
		r.add("%s", alertHeadline(in))
		r.add("🕒 %s", alertTime(in.EventAt))
		if in.Detail != "" {
			r.addPre(strings.Split(clip(strings.TrimRight(in.Detail, "\n"), maxAlertDetail), "\n")...)
		}
		return r, true
	}
	if summary {
		r.add("📋 <b>%s</b> older than %s that could not be delivered in time:", alertCount(len(ins)), duration(maxAge))
	} else {
		r.add("🚨 <b>%s</b>", alertCount(len(ins)))
	}
	size := visibleLen(r.lines[0]) + 1
	for i, in := range ins {
		l := line{text: alertHeadline(in) + " <i>(" + alertTime(in.EventAt) + ")</i>"}
		size += visibleLen(l) + 1
		if size > alertLimit {
			r.add("…and %d more: /docker_alerts", len(ins)-i)
			return r, false
		}
		r.lines = append(r.lines, l)
	}
	return r, true
}

// alertCount is "1 alert", "20 alerts".
func alertCount(n int) string {
	if n == 1 {
		return "1 alert"
	}
	return fmt.Sprintf("%d alerts", n)
}

// Button data of an alert: "al:<incident id>" shows the container's logs up to the
// event, "ar:<id>" asks to restart its project, "am:<id>" mutes its project for an
// hour. The id names an incident, which anyone allowed may list with /docker_alerts.
const (
	dataAlertLogs    = "al"
	dataAlertRestart = "ar"
	dataAlertMute    = "am"
)

// alertKeyboard is the buttons under an alert message: for one incident of a
// container 📜 Logs, 🔄 Restart and 🔕 Mute 1h; for several, a 📜 button per
// container and a Restart and Mute row per project (a few at most).
func alertKeyboard(ins []store.Incident) *telego.InlineKeyboardMarkup {
	button := func(text, kind string, id int64) telego.InlineKeyboardButton {
		return telego.InlineKeyboardButton{Text: text, CallbackData: kind + ":" + strconv.FormatInt(id, 10)}
	}
	var rows [][]telego.InlineKeyboardButton
	if len(ins) == 1 {
		in := ins[0]
		if in.Project == "" {
			return nil
		}
		var row []telego.InlineKeyboardButton
		if in.Container != "" && !notice(in) {
			row = append(row, button("📜 Logs", dataAlertLogs, in.ID), button("🔄 Restart", dataAlertRestart, in.ID))
		}
		row = append(row, button("🔕 Mute 1h", dataAlertMute, in.ID))
		return &telego.InlineKeyboardMarkup{InlineKeyboard: [][]telego.InlineKeyboardButton{row}}
	}
	var logs []telego.InlineKeyboardButton
	seen := make(map[string]bool)
	var projectRows [][]telego.InlineKeyboardButton
	for _, in := range ins {
		if in.Project == "" {
			continue
		}
		if in.Container != "" && !notice(in) && len(logs) < 9 {
			logs = append(logs, button("📜 "+clip(in.Container, 24), dataAlertLogs, in.ID))
		}
		if !seen[in.Project] && len(projectRows) < 4 {
			seen[in.Project] = true
			projectRows = append(projectRows, []telego.InlineKeyboardButton{
				button("🔄 Restart "+clip(in.Project, 24), dataAlertRestart, in.ID),
				button("🔕 Mute "+clip(in.Project, 24)+" 1h", dataAlertMute, in.ID),
			})
		}
	}
	for i := 0; i < len(logs); i += 3 {
		rows = append(rows, logs[i:min(i+3, len(logs))])
	}
	rows = append(rows, projectRows...)
	if len(rows) == 0 {
		return nil
	}
	return &telego.InlineKeyboardMarkup{InlineKeyboard: rows}
}

// formatIncidents is /docker_alerts: recent incidents, open ones first.
func (b *Bot) formatIncidents(project string, ins []store.Incident, mute *store.Mute) *reply {
	r := &reply{}
	scope := "all projects"
	if project != "" {
		scope = "<b>" + esc(project) + "</b>"
	}
	r.add("🚨 <b>Alerts</b> — %s", scope)
	if mute != nil {
		r.add("🔕 Muted until %s by %s", alertTime(mute.Until), esc(clip(mute.Who, 80)))
	}
	if len(ins) == 0 {
		r.add("No incidents.")
	}
	open := 0
	for _, in := range ins {
		if in.Open() && !notice(in) {
			open++
		}
	}
	if open > 0 {
		r.add("%d open:", open)
	}
	for _, in := range ins {
		r.add("%s <i>(%s)</i>", alertHeadline(in), esc(in.EventAt.UTC().Format("Jan 2 15:04:05")))
	}
	if project != "" {
		r.add("%s", next(b.cmdRef("docker_status", project), b.cmdRef("docker_logs", project)))
	} else {
		r.add("%s", next("/docker_status"))
	}
	return r
}
