package handlers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mymmrac/telego"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/store"
)

const (
	// defaultMute is /docker_mute's duration when none is given, and the 🔕 button's.
	defaultMute = time.Hour
	// maxMute is the longest mute: a forgotten one must end.
	maxMute = 30 * 24 * time.Hour
	// alertLogLines is how many lines the 📜 Logs button shows.
	alertLogLines = 30
	// alertsShown is how many incidents /docker_alerts lists.
	alertsShown = 20
)

// errNoAlerts answers the alert commands on a bot built without the state store's
// alerts.
const errNoAlerts = "🚧 Alerts are not available on this server."

// listAlerts is /docker_alerts [project]: recent incidents, open ones first.
func (b *Bot) listAlerts(ctx context.Context, in *request) string {
	if b.alertStore == nil {
		return errNoAlerts
	}
	name, err := projectArg(in.cmd)
	if err != nil {
		return esc(err.Error())
	}
	var mute *store.Mute
	if name != "" {
		p, refusal := b.resolve(ctx, in, name, "alerts")
		if p == nil {
			return refusal
		}
		name = p.Name
	}
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	ins, err := b.alertStore.Incidents(ctx, store.IncidentQuery{Project: name, Limit: 100})
	if err != nil {
		return errorText("read the alerts", err)
	}
	// Without a project, the incidents of the projects the user may see and the host's.
	visible := map[string]bool{"": true}
	for _, n := range b.visibleProjects(in.user.ID) {
		visible[n] = true
	}
	var shown []store.Incident
	for _, i := range ins {
		if visible[i.Project] && len(shown) < alertsShown {
			shown = append(shown, i)
		}
	}
	if name != "" {
		mutes, err := b.alertStore.Mutes(ctx, b.now())
		if err != nil {
			return errorText("read the mutes", err)
		}
		if m, ok := mutes[name]; ok {
			mute = &m
		}
	}
	b.sendReply(ctx, in.chatID, b.formatIncidents(name, shown, mute))
	return ""
}

// muteArgs parses /docker_mute [project] [duration], in either order: a word that
// is a configured project's name is the project, one that starts with a digit the
// duration.
func (b *Bot) muteArgs(cmd Command) (project string, d time.Duration, err error) {
	usage := &usageError{usage: "/docker_mute [project] [duration], like /docker_mute shop 2h"}
	if len(cmd.Args) > 2 {
		return "", 0, usage
	}
	names := b.projects.Names()
	for _, a := range cmd.Args {
		isProject := slices.Contains(names, a) || a == "" || a[0] < '0' || a[0] > '9'
		switch {
		case isProject && project == "":
			project = a
		case !isProject && d == 0:
			if d, err = muteDuration(a); err != nil {
				return "", 0, err
			}
		default:
			return "", 0, usage
		}
	}
	if d == 0 {
		d = defaultMute
	}
	return project, d, nil
}

// muteDuration parses "30m", "2h", "1h30m" or "3d".
func muteDuration(s string) (time.Duration, error) {
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if n, err = strconv.Atoi(days); err == nil {
			d = time.Duration(n) * 24 * time.Hour
		}
	} else {
		d, err = time.ParseDuration(s)
	}
	switch {
	case err != nil:
		return 0, fmt.Errorf("%q is not a duration: use one like 30m, 2h or 1d", clip(s, 40))
	case d < time.Minute:
		return 0, fmt.Errorf("a mute lasts at least a minute, not %s", clip(s, 40))
	case d > maxMute:
		return 0, fmt.Errorf("a mute lasts at most %s, not %s", duration(maxMute), clip(s, 40))
	}
	return d, nil
}

// mute is /docker_mute [project] [duration].
func (b *Bot) mute(ctx context.Context, in *request) string {
	if b.alertStore == nil {
		return errNoAlerts
	}
	name, d, err := b.muteArgs(in.cmd)
	if err != nil {
		return "⚠️ " + esc(err.Error())
	}
	p, refusal := b.resolve(ctx, in, name, "mute")
	if p == nil {
		return refusal
	}
	return b.muteProject(ctx, in.who(), p.Name, d)
}

// muteProject mutes a project for d and returns the text saying so.
func (b *Bot) muteProject(ctx context.Context, who dockerops.Actor, project string, d time.Duration) string {
	until := b.now().Add(d)
	err := b.alertStore.SetMute(ctx, store.Mute{Project: project, Until: until, Who: who.Name})
	b.record(ctx, who, "mute", project, auditOutcome(err), "until "+until.UTC().Format(time.RFC3339))
	if err != nil {
		return errorText("mute the alerts", err)
	}
	return fmt.Sprintf("🔕 Alerts of <b>%s</b> muted for %s, until %s. Its incidents are still recorded: /docker_alerts lists them.\n%s",
		esc(project), duration(d), alertTime(until), next(b.cmdRef("docker_unmute", project)))
}

// unmute is /docker_unmute [project].
func (b *Bot) unmute(ctx context.Context, in *request) string {
	if b.alertStore == nil {
		return errNoAlerts
	}
	name, err := projectArg(in.cmd)
	if err != nil {
		return esc(err.Error())
	}
	p, refusal := b.resolve(ctx, in, name, "unmute")
	if p == nil {
		return refusal
	}
	was, err := b.alertStore.Unmute(ctx, p.Name, b.now())
	b.record(ctx, in.who(), "unmute", p.Name, auditOutcome(err), "")
	if err != nil {
		return errorText("unmute the alerts", err)
	}
	if !was {
		return fmt.Sprintf("🔔 <b>%s</b> was not muted: its alerts are sent.", esc(p.Name))
	}
	b.PokeAlerts()
	return fmt.Sprintf("🔔 Alerts of <b>%s</b> are sent again.\n%s", esc(p.Name), next(b.cmdRef("docker_alerts", p.Name)))
}

// muteLine is /docker_status's line for a muted project, "" when it is not.
func (b *Bot) muteLine(ctx context.Context, project string) string {
	if b.alertStore == nil {
		return ""
	}
	mutes, err := b.alertStore.Mutes(ctx, b.now())
	if err != nil {
		return ""
	}
	m, ok := mutes[project]
	if !ok {
		return ""
	}
	return fmt.Sprintf("🔕 Alerts muted until %s by %s — %s", alertTime(m.Until), esc(clip(m.Who, 80)), b.cmdRef("docker_unmute", project))
}

// alertButton answers a press of an alert's 📜 Logs, 🔄 Restart or 🔕 Mute 1h. The
// press is taken like the command it stands for: from a user who may act on the
// project, Restart and Mute from full users only, Restart through its confirmation.
func (b *Bot) alertButton(ctx context.Context, q *telego.CallbackQuery, chatID int64, kind, data string) string {
	answer := func(text string, alert bool) { b.send.answerCallback(ctx, q.ID, text, alert) }
	user := q.From
	who := actor(user, chatID)
	id, err := strconv.ParseInt(data, 10, 64)
	if err != nil || b.alertStore == nil {
		answer("This button is not one of mine.", false)
		return updateHandled
	}
	in, err := b.alertStore.Incident(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		answer("This alert is not known any more.", true)
		return updateHandled
	}
	if err != nil {
		answer(clip("Could not read the alert: "+err.Error(), 190), true)
		return updateHandled
	}
	action := map[string]string{dataAlertLogs: dockerops.OpLogs, dataAlertRestart: dockerops.OpRestart, dataAlertMute: "mute"}[kind]
	p, err := b.projects.Resolve(in.Project)
	if in.Project == "" || err != nil {
		answer("This alert's project is not configured any more.", true)
		return updateHandled
	}
	if !p.AllowsUser(user.ID) {
		b.record(ctx, who, action, p.Name, "refused", "not in the project's allowed_users")
		answer(fmt.Sprintf("You are not allowed to act on %s.", p.Name), true)
		return updateHandled
	}
	lvl := b.access.level(user.ID)
	if kind != dataAlertLogs && lvl < levelFull {
		b.record(ctx, who, action, p.Name, "refused", "read-only user")
		answer(fmt.Sprintf("🔒 Your access is read-only: %s needs full access.", action), true)
		return updateHandled
	}
	switch kind {
	case dataAlertLogs:
		answer("📜 Logs of "+clip(in.Container, 60), false)
		readCtx, cancel := context.WithTimeout(ctx, readTimeout)
		defer cancel()
		res, err := b.ops.Logs(readCtx, p.Name, dockerops.LogsRequest{Container: in.Container, Lines: alertLogLines, Until: in.EventAt})
		b.record(ctx, who, dockerops.OpLogs, p.Name, auditOutcome(err), "alert "+data)
		if err != nil {
			b.say(ctx, chatID, errorText("read the logs", err)+"\n"+next(b.cmdRef("docker_logs", p.Name)))
			return updateHandled
		}
		r := b.formatLogs(res, alertLogLines)
		r.lines = slices.Insert(r.lines, 0, line{text: fmt.Sprintf("📜 Up to the alert at %s:", alertTime(in.EventAt))})
		b.sendReply(ctx, chatID, r)
	case dataAlertRestart:
		answer("🔄 Restart: confirm below", false)
		req := &request{chatID: chatID, user: user, level: lvl, cmd: Command{Name: "docker_restart", Args: []string{p.Name}}}
		if text := b.askRestart(ctx, req); text != "" {
			b.say(ctx, chatID, text)
		}
	case dataAlertMute:
		answer("🔕 Muted for "+duration(defaultMute), false)
		b.say(ctx, chatID, b.muteProject(ctx, who, p.Name, defaultMute))
	}
	return updateHandled
}
