package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mymmrac/telego"

	"github.com/scar-dev/scar/confirm"
	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// readTimeout bounds the commands that only read (status, logs, stats, history, audit).
const readTimeout = time.Minute

// commandSpec describes one command: who may run it and what /help says of it.
type commandSpec struct {
	name  string
	args  string
	help  string
	write bool // needs full access
	// planReadOnly lets a read-only user run a write command for its plan alone: a
	// dry run changes nothing. The command then asks no confirmation.
	planReadOnly bool
}

// request is one command being handled.
type request struct {
	chatID int64
	user   telego.User
	level  level
	cmd    Command
}

// who is how the audit and busy messages name the user: "telegram:42 (@sam)".
func (in *request) who() dockerops.Actor {
	return actor(in.user, in.chatID)
}

func actor(u telego.User, chatID int64) dockerops.Actor {
	name := u.Username
	if name != "" {
		name = "@" + name
	} else {
		name = strings.TrimSpace(u.FirstName + " " + u.LastName)
	}
	return dockerops.Actor{
		Name:   fmt.Sprintf("telegram:%d (%s)", u.ID, name),
		Source: "chat:" + strconv.FormatInt(chatID, 10),
	}
}

// commands lists every command in /help's order.
var commands = []commandSpec{
	{name: "docker_status", args: "[project]", help: "containers, health, uptime and ports"},
	{name: "docker_overview", help: "every project at a glance: running, down, unhealthy, open incidents, undeployed changes"},
	{name: "docker_logs", args: "[project] [lines]", help: "last lines of the primary container (default 50); /docker_logs [project] [container] follow shows new lines live for 10 minutes"},
	{name: "docker_stats", args: "[project]", help: "CPU, memory, network, disk I/O and PIDs of each container"},
	{name: "docker_restart", args: "[project]", help: "restart the project's containers (asks first)", write: true},
	{name: "docker_stop", args: "[project] [container...]", help: "stop the project's containers, or the named ones (asks first)", write: true},
	{name: "docker_start", args: "[project] [container...]", help: "start stopped containers and wait for their health checks", write: true},
	{name: "docker_deploy", args: "[project] [sha|branch]", help: "copy the workspace (a git project: the commit, default its branch head) to production, rebuild if needed, check health (asks first)", write: true, planReadOnly: true},
	{name: "docker_promote", args: "<from> <to>", help: "deploy to <to> exactly the commit <from> runs now, git projects of one remote (asks first)", write: true},
	{name: "docker_rollback", args: "[project]", help: "undo the last deploy (asks first)", write: true},
	{name: "docker_history", args: "[project]", help: "recent deploys and rollbacks"},
	{name: "docker_audit", args: "[project]", help: "who did what, newest first", write: true},
	{name: "docker_alerts", args: "[project]", help: "recent alerts, open ones first"},
	{name: "docker_mute", args: "[project] [duration]", help: "silence a project's alerts for a while (default 1h)", write: true},
	{name: "docker_unmute", args: "[project]", help: "send a muted project's alerts again", write: true},
	{name: "docker_projects", help: "the projects scar manages"},
	{name: "help", help: "this list"},
	{name: "start", help: "hello"},
}

func findCommand(name string) (commandSpec, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return commandSpec{}, false
}

// menuCommands is the command menu registered with setMyCommands.
func menuCommands() []telego.BotCommand {
	var out []telego.BotCommand
	for _, c := range commands {
		if c.name == "start" {
			continue
		}
		out = append(out, telego.BotCommand{Command: c.name, Description: capitalize(c.help)})
	}
	return out
}

// handle is where every queued update is handled; it returns the update's outcome.
func (b *Bot) handle(ctx context.Context, u telego.Update) string {
	switch {
	case u.Message != nil:
		return b.handleMessage(ctx, u.Message)
	case u.CallbackQuery != nil:
		return b.handleCallback(ctx, u.CallbackQuery)
	}
	return updateIgnored
}

func (b *Bot) handleMessage(ctx context.Context, m *telego.Message) string {
	chatID, user := m.Chat.ID, *m.From
	if b.alerts != nil {
		b.alerts.heard(chatID)
	}
	private := m.Chat.Type == telego.ChatTypePrivate
	cmd, isCmd := ParseCommand(m.Text)
	if isCmd && cmd.Mention != "" && !cmd.ForBot(b.learnUsername(ctx)) {
		return updateIgnored
	}
	if !b.access.chatAllowed(chatID, private) {
		if isCmd {
			b.refuseChat(ctx, chatID, user, cmd.Name)
		}
		return updateUnauthorized
	}

	lvl := b.access.level(user.ID)
	if lvl == levelNone {
		// In groups, only commands are addressed to the bot.
		if isCmd || private {
			b.refuseStranger(ctx, chatID, user, cmd.Name)
		}
		return updateUnauthorized
	}
	if ok, notify := b.access.allow(user.ID); !ok {
		if notify {
			b.say(ctx, chatID, "🐢 Too many commands at once. Wait a few seconds, then try again.")
		}
		return updateRateLimited
	}

	// A message from a user with a confirmation waiting in this chat answers it.
	p, confirmed, waiting, err := b.confirms.Answer(chatID, user.ID, m.Text)
	if waiting {
		switch {
		case err != nil:
			b.expired(ctx, p)
			if confirm.IsYes(m.Text) {
				b.say(ctx, chatID, fmt.Sprintf("⌛ That confirmation expired. Send %s again.", b.retryRef(p)))
				return updateHandled
			}
		case confirmed:
			b.confirmed(ctx, p, user)
			return updateHandled
		default:
			b.cancelled(ctx, p, user)
			if !isCmd {
				b.say(ctx, chatID, fmt.Sprintf("✖️ %s cancelled: nothing was done.", capitalize(p.Action)))
				return updateHandled
			}
		}
	}

	if !isCmd {
		if confirm.IsYes(m.Text) {
			b.say(ctx, chatID, "Nothing is waiting for a confirmation here (it may have expired).\n"+next("/help"))
		} else if private && m.Text != "" {
			b.say(ctx, chatID, "I understand commands only.\n"+next("/help"))
		}
		return updateHandled
	}
	spec, known := findCommand(cmd.Name)
	if !known {
		if private || cmd.Mention != "" {
			b.say(ctx, chatID, fmt.Sprintf("❓ I don't know /%s.\n%s", esc(cmd.Name), next("/help")))
		}
		return updateHandled
	}
	in := &request{chatID: chatID, user: user, level: lvl, cmd: cmd}
	if spec.write && lvl < levelFull && !spec.planReadOnly {
		b.record(ctx, in.who(), strings.TrimPrefix(spec.name, "docker_"), "", "refused", "read-only user")
		b.say(ctx, chatID, fmt.Sprintf("🔒 Your access is read-only: /%s needs full access.\n%s", spec.name, next("/docker_status")))
		return updateHandled
	}
	if text := b.run(ctx, in); text != "" {
		b.say(ctx, chatID, text)
	}
	return updateHandled
}

// run runs a known command and returns the text to answer with, "" when it answered
// itself.
func (b *Bot) run(ctx context.Context, in *request) string {
	switch in.cmd.Name {
	case "docker_status":
		return b.status(ctx, in)
	case "docker_logs":
		return b.logs(ctx, in)
	case "docker_stats":
		return b.stats(ctx, in)
	case "docker_overview":
		return b.overview(ctx, in)
	case "docker_restart":
		return b.askRestart(ctx, in)
	case "docker_stop":
		return b.askStop(ctx, in)
	case "docker_start":
		return b.startNow(ctx, in)
	case "docker_deploy":
		return b.askDeploy(ctx, in)
	case "docker_rollback":
		return b.askRollback(ctx, in)
	case "docker_promote":
		return b.askPromote(ctx, in)
	case "docker_history":
		return b.history(ctx, in)
	case "docker_audit":
		return b.auditLog(ctx, in)
	case "docker_projects":
		return b.listProjects(ctx, in)
	case "docker_alerts":
		return b.listAlerts(ctx, in)
	case "docker_mute":
		return b.mute(ctx, in)
	case "docker_unmute":
		return b.unmute(ctx, in)
	}
	return b.help(ctx, in)
}

// refuseStranger audits a command from a user nobody allowed and tells them who they
// are and how to be allowed, once in a while. The audit keeps to the user's command
// rate, so that a stranger cannot fill the log faster than an allowed user could.
func (b *Bot) refuseStranger(ctx context.Context, chatID int64, user telego.User, command string) {
	if command != "" {
		if ok, _ := b.access.allow(user.ID); ok {
			b.record(ctx, actor(user, chatID), strings.TrimPrefix(command, "docker_"), "", "refused", "not an allowed user")
		}
	}
	if !b.access.noticeStranger(user.ID) {
		return
	}
	b.say(ctx, chatID, fmt.Sprintf("🔒 You are not allowed to use this bot.\n"+
		"Your Telegram user id is <code>%d</code>. To be allowed, the server's admin adds it to "+
		"<code>SCAR_TELEGRAM_ALLOWED_USERS</code> (or <code>SCAR_TELEGRAM_READONLY_USERS</code>) and restarts scar.", user.ID))
}

// chatRefusal is the audit detail of a command from a group the bot may not speak in.
const chatRefusal = "group chat not in SCAR_TELEGRAM_ALLOWED_CHATS"

// refuseChat audits a command from a group chat that is not listed in AllowedChats,
// at the user's command rate, and answers nothing: output goes only to listed chats.
// The log line gives the operator the chat id to list.
func (b *Bot) refuseChat(ctx context.Context, chatID int64, user telego.User, command string) {
	if ok, _ := b.access.allow(user.ID); !ok {
		return
	}
	b.record(ctx, actor(user, chatID), strings.TrimPrefix(command, "docker_"), "", "refused", chatRefusal)
	b.log.InfoContext(ctx, "telegram: command in a group chat not in SCAR_TELEGRAM_ALLOWED_CHATS refused without an answer",
		slog.Int64("chat_id", chatID), slog.Int64("user_id", user.ID), slog.String("command", command))
}

// resolve finds the project a command names ("" = default) and checks that the user
// may act on it. On failure it returns the text to answer with.
func (b *Bot) resolve(ctx context.Context, in *request, name, action string) (*projects.Project, string) {
	p, err := b.projects.Resolve(name)
	switch {
	case errors.Is(err, projects.ErrUnknownProject):
		return nil, b.projectList(in.user.ID, fmt.Sprintf("❓ Unknown project <b>%s</b>.", esc(clip(name, maxDynamic))), in.cmd.Name)
	case errors.Is(err, projects.ErrNoDefault):
		return nil, b.projectList(in.user.ID, "Which project? There is no default project.", in.cmd.Name)
	case err != nil:
		return nil, errorText("find the project", err)
	}
	if !p.AllowsUser(in.user.ID) {
		b.record(ctx, in.who(), action, p.Name, "refused", "not in the project's allowed_users")
		return nil, fmt.Sprintf("🔒 You are not allowed to act on <b>%s</b>.", esc(p.Name))
	}
	return p, ""
}

// projectList answers a missing or unknown project with the projects user may use.
func (b *Bot) projectList(userID int64, lead, command string) string {
	names := b.visibleProjects(userID)
	if len(names) == 0 {
		return lead + "\nNo projects are configured for you."
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = "<b>" + esc(n) + "</b>"
	}
	return fmt.Sprintf("%s\nProjects: %s\n%s", lead, strings.Join(quoted, ", "), next("/"+command+" "+esc(names[0])))
}

// visibleProjects are the project names userID may act on.
func (b *Bot) visibleProjects(userID int64) []string {
	var out []string
	for _, n := range b.projects.Names() {
		if p, err := b.projects.Resolve(n); err == nil && p.AllowsUser(userID) {
			out = append(out, n)
		}
	}
	return out
}

// auditWriteTimeout bounds one audit write.
const auditWriteTimeout = 5 * time.Second

// record appends to the audit log; a failure to do so is logged, not shown. The entry
// lands even when ctx has ended (a restart that ran into its deadline, a shutdown).
func (b *Bot) record(ctx context.Context, who dockerops.Actor, action, project, outcome, detail string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditWriteTimeout)
	defer cancel()
	err := b.audit.RecordAudit(ctx, store.AuditEntry{
		At: b.now(), Who: who.Name, Source: who.Source, Action: action, Project: project, Outcome: outcome, Detail: detail,
	})
	if err != nil {
		b.log.ErrorContext(ctx, "telegram: audit", slog.String("action", action), slog.Any("error", err))
	}
}

func auditOutcome(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

func (b *Bot) status(ctx context.Context, in *request) string {
	name, err := projectArg(in.cmd)
	if err != nil {
		return esc(err.Error())
	}
	p, refusal := b.resolve(ctx, in, name, dockerops.OpStatus)
	if p == nil {
		return refusal
	}
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	st, err := b.ops.Status(ctx, p.Name)
	b.record(ctx, in.who(), dockerops.OpStatus, p.Name, auditOutcome(err), "")
	if err != nil {
		return errorText("read the status", err) + "\n" + next(b.cmdRef("docker_status", p.Name))
	}
	r := b.formatStatus(st)
	if mute := b.muteLine(ctx, p.Name); mute != "" {
		r.lines = slices.Insert(r.lines, 1, line{text: mute})
	}
	b.sendReply(ctx, in.chatID, r)
	return ""
}

func (b *Bot) logs(ctx context.Context, in *request) string {
	if rest, follow := splitFollow(in.cmd.Args); follow {
		return b.followLogs(ctx, in, rest)
	}
	name, lines, err := logsArgs(in.cmd)
	if err != nil {
		return "⚠️ " + esc(err.Error())
	}
	p, refusal := b.resolve(ctx, in, name, dockerops.OpLogs)
	if p == nil {
		return refusal
	}
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	res, err := b.ops.Logs(ctx, p.Name, dockerops.LogsRequest{Lines: lines})
	b.record(ctx, in.who(), dockerops.OpLogs, p.Name, auditOutcome(err), fmt.Sprintf("lines=%d", lines))
	if err != nil {
		return errorText("read the logs", err) + "\n" + next(b.cmdRef("docker_status", p.Name))
	}
	b.sendReply(ctx, in.chatID, b.formatLogs(res, lines))
	return ""
}

func (b *Bot) listProjects(ctx context.Context, in *request) string {
	names := b.visibleProjects(in.user.ID)
	if len(names) == 0 {
		return "No projects are configured for you."
	}
	def := b.projects.Default()
	r := &reply{}
	r.add("📂 <b>Projects</b>")
	for _, n := range names {
		p, err := b.projects.Resolve(n)
		if err != nil {
			continue
		}
		mark := ""
		if n == def {
			mark = " (default)"
		}
		r.add("• <b>%s</b>%s", esc(n), mark)
		r.add("   📁 %s → 💡 %s", esc(clip(p.Workspace, maxDynamic)), esc(clip(p.Production, maxDynamic)))
	}
	r.add("%s", next("/docker_status "+esc(names[0])))
	b.sendReply(ctx, in.chatID, r)
	return ""
}

func (b *Bot) help(_ context.Context, in *request) string {
	var sb strings.Builder
	if in.cmd.Name == "start" {
		sb.WriteString("👋 Hello! I run your production Docker: status, logs, restarts and deploys.\n\n")
	}
	sb.WriteString("🤖 <b>Commands</b>\n")
	for _, c := range commands {
		if c.name == "start" {
			continue
		}
		usage := "/" + c.name
		if c.args != "" {
			usage += " " + esc(c.args)
		}
		sb.WriteString(usage + " — " + esc(c.help) + "\n")
	}
	if def := b.projects.Default(); def != "" {
		sb.WriteString("\nDefault project: <b>" + esc(def) + "</b>\n")
	}
	if in.level == levelReadOnly {
		sb.WriteString("\n🔒 Your access is read-only: restart, stop, start, deploy, promote, rollback, audit, mute and unmute need full access. /docker_deploy shows you a deploy's plan.\n")
	}
	sb.WriteString("\n" + next("/docker_status"))
	return sb.String()
}

func (b *Bot) history(ctx context.Context, in *request) string {
	name, err := projectArg(in.cmd)
	if err != nil {
		return esc(err.Error())
	}
	p, refusal := b.resolve(ctx, in, name, "history")
	if p == nil {
		return refusal
	}
	if b.deploys == nil {
		return errNoDeploys
	}
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	ds, err := b.deploys.History(ctx, p.Name, 10)
	if err != nil {
		return errorText("read the history", err)
	}
	b.sendReply(ctx, in.chatID, b.formatHistory(p.Name, ds))
	return ""
}

// errNoDeploys answers deploy commands when this scar has no deploys wired.
const errNoDeploys = "🚧 Deploys are not available on this server yet."

func (b *Bot) auditLog(ctx context.Context, in *request) string {
	name, err := projectArg(in.cmd)
	if err != nil {
		return esc(err.Error())
	}
	// Without a project the audit covers all projects the user may see.
	if name != "" {
		p, refusal := b.resolve(ctx, in, name, "audit")
		if p == nil {
			return refusal
		}
		name = p.Name
	}
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	entries, err := b.audit.Audit(ctx, name, time.Time{}, 100)
	if err != nil {
		return errorText("read the audit log", err)
	}
	visible := map[string]bool{"": true}
	for _, n := range b.visibleProjects(in.user.ID) {
		visible[n] = true
	}
	var shown []store.AuditEntry
	for _, e := range entries {
		if visible[e.Project] && len(shown) < 20 {
			shown = append(shown, e)
		}
	}
	b.sendReply(ctx, in.chatID, b.formatAudit(name, shown))
	return ""
}
