package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/mymmrac/telego"

	"github.com/scar-dev/scar/confirm"
	"github.com/scar-dev/scar/dockerops"
)

// Button data is "c:<token>" to confirm and "x:<token>" to cancel; the token is
// random and names no action.
const (
	dataConfirm = "c"
	dataCancel  = "x"
)

// commandOf is the command that asks for action.
func commandOf(action string) string { return "docker_" + action }

func keyboard(token string) *telego.InlineKeyboardMarkup {
	return &telego.InlineKeyboardMarkup{InlineKeyboard: [][]telego.InlineKeyboardButton{{
		{Text: "✅ Confirm", CallbackData: dataConfirm + ":" + token},
		{Text: "✖️ Cancel", CallbackData: dataCancel + ":" + token},
	}}}
}

// ask sends r with Confirm/Cancel buttons and keeps the confirmation of action.
func (b *Bot) ask(ctx context.Context, in *request, action, project string, r *reply) string {
	return b.askDetail(ctx, in, action, project, "", r)
}

// askDetail is ask for a confirmation of something exact (a deploy's plan fingerprint).
func (b *Bot) askDetail(ctx context.Context, in *request, action, project, detail string, r *reply) string {
	p, replaced, err := b.confirms.Ask(in.chatID, in.user.ID, action, project)
	if err != nil {
		return errorText("ask for a confirmation", err)
	}
	b.confirms.SetDetail(p.Token, detail)
	if replaced != nil {
		b.closeConfirmation(ctx, *replaced, "✖️ Replaced by a newer request: nothing was done.")
	}
	r.blank()
	r.add("Type <code>yes</code> to confirm, or press a button; anything else cancels. Expires in %s.", duration(b.confirms.TTL()))
	r.markup = keyboard(p.Token)
	id, err := b.sendReply(ctx, in.chatID, r)
	if err == nil {
		b.confirms.SetMessage(p.Token, id)
	}
	b.record(ctx, in.who(), action, project, "asked", "")
	return ""
}

// closeConfirmation replaces a confirmation's message (and its buttons) with text.
func (b *Bot) closeConfirmation(ctx context.Context, p confirm.Pending, text string) {
	if p.MessageID == 0 {
		return
	}
	b.send.editMessage(ctx, p.ChatID, p.MessageID, text, nil)
}

func (b *Bot) cancelled(ctx context.Context, p confirm.Pending, user telego.User) {
	b.record(ctx, actor(user, p.ChatID), p.Action, p.Project, "cancelled", "")
	b.closeConfirmation(ctx, p, fmt.Sprintf("✖️ %s of <b>%s</b> cancelled: nothing was done.", capitalize(p.Action), esc(p.Project)))
}

func (b *Bot) expired(ctx context.Context, p confirm.Pending) {
	b.closeConfirmation(ctx, p, fmt.Sprintf("⌛ %s of <b>%s</b> expired: nothing was done. Send %s again.",
		capitalize(p.Action), esc(p.Project), b.retryRef(p)))
}

// confirmed runs the confirmed action. The project is looked up again: the projects
// file may have changed since the question.
func (b *Bot) confirmed(ctx context.Context, p confirm.Pending, user telego.User) {
	who := actor(user, p.ChatID)
	project, err := b.projects.Resolve(p.Project)
	if err != nil || !project.AllowsUser(user.ID) || b.access.level(user.ID) < levelFull {
		b.record(ctx, who, p.Action, p.Project, "refused", "no longer allowed")
		b.closeConfirmation(ctx, p, fmt.Sprintf("🔒 %s of <b>%s</b> is no longer allowed: nothing was done.", capitalize(p.Action), esc(p.Project)))
		return
	}
	b.record(ctx, who, p.Action, p.Project, "confirmed", "")
	switch p.Action {
	case dockerops.OpRestart:
		b.runRestart(p, who)
	case dockerops.OpStop:
		b.runStop(p, who)
	case dockerops.OpDeploy, dockerops.OpRollback, opPromote:
		b.runDeploy(p, who)
	}
}

// handleCallback answers a button press; every press gets an answer.
func (b *Bot) handleCallback(ctx context.Context, q *telego.CallbackQuery) string {
	answer := func(text string, alert bool) { b.send.answerCallback(ctx, q.ID, text, alert) }
	chatID, _, ok := callbackMessage(q)
	if !ok || q.From.IsBot {
		answer("This button no longer works.", false)
		return updateIgnored
	}
	user := q.From
	// A private chat's id is its user's.
	if !b.access.chatAllowed(chatID, chatID == user.ID) {
		if ok, _ := b.access.allow(user.ID); ok {
			b.record(ctx, actor(user, chatID), "button", "", "refused", chatRefusal)
		}
		answer("I do not answer in this chat: the server's admin can add its id to SCAR_TELEGRAM_ALLOWED_CHATS.", true)
		return updateUnauthorized
	}
	if b.access.level(user.ID) == levelNone {
		if ok, _ := b.access.allow(user.ID); ok {
			b.record(ctx, actor(user, chatID), "button", "", "refused", "not an allowed user")
		}
		answer(fmt.Sprintf("You are not allowed to use this bot. Your Telegram user id is %d; the admin can add it to SCAR_TELEGRAM_ALLOWED_USERS.", user.ID), true)
		return updateUnauthorized
	}
	if ok, _ := b.access.allow(user.ID); !ok {
		answer("Too many requests: wait a few seconds.", false)
		return updateRateLimited
	}
	kind, token, ok := strings.Cut(q.Data, ":")
	if ok && kind == dataStop {
		return b.stopDeploy(ctx, q, chatID, token)
	}
	if ok && kind == dataFollowStop {
		return b.stopFollow(ctx, q, chatID, token)
	}
	if ok && (kind == dataAlertLogs || kind == dataAlertRestart || kind == dataAlertMute) {
		return b.alertButton(ctx, q, chatID, kind, token)
	}
	if !ok || (kind != dataConfirm && kind != dataCancel) {
		answer("This button is not one of mine.", false)
		return updateHandled
	}
	p, err := b.confirms.Press(chatID, user.ID, token, kind == dataConfirm)
	var spent *confirm.SpentError
	switch {
	case errors.Is(err, confirm.ErrNotYours):
		answer("Only the user who asked can answer this.", true)
	case errors.As(err, &spent) && spent.Outcome == confirm.Expired:
		answer("This confirmation expired. Send the command again.", true)
		b.expired(ctx, spent.Pending)
	case errors.As(err, &spent):
		answer(spentText(spent.Outcome), false)
	case err != nil:
		answer("This button is no longer valid.", false)
	case kind == dataConfirm:
		answer("Confirmed", false)
		b.confirmed(ctx, p, user)
	default:
		answer("Cancelled", false)
		b.cancelled(ctx, p, user)
	}
	return updateHandled
}

func spentText(outcome string) string {
	switch outcome {
	case confirm.Confirmed:
		return "Already confirmed: it ran once, it will not run again."
	case confirm.Cancelled:
		return "This was cancelled."
	case confirm.Replaced:
		return "This was replaced by a newer request."
	}
	return "This confirmation is closed."
}

func (b *Bot) askRestart(ctx context.Context, in *request) string {
	name, err := projectArg(in.cmd)
	if err != nil {
		return esc(err.Error())
	}
	p, refusal := b.resolve(ctx, in, name, dockerops.OpRestart)
	if p == nil {
		return refusal
	}
	readCtx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	st, err := b.ops.Status(readCtx, p.Name)
	if err != nil {
		return errorText("read the containers to restart", err)
	}
	r := &reply{}
	r.add("⚠️ <b>Restart Production Containers</b> — %s", esc(p.Name))
	r.blank()
	r.add("Containers to restart:")
	for _, c := range st.Containers {
		mark := ""
		if c.State == dockerops.StateNotFound {
			mark = " (not found)"
		}
		r.add("- %s%s", esc(clip(c.Name, maxDynamic)), mark)
	}
	if len(st.Containers) == 0 {
		return fmt.Sprintf("⚠️ <b>%s</b> has no containers to restart.\n%s", esc(p.Name), next(b.cmdRef("docker_status", p.Name)))
	}
	return b.ask(ctx, in, dockerops.OpRestart, p.Name, r)
}

// runRestart restarts a project in the background, editing the confirmation message
// as each container goes and comes back.
func (b *Bot) runRestart(p confirm.Pending, who dockerops.Actor) {
	live := b.newLive(p.ChatID, p.MessageID)
	view := &restartView{project: p.Project}
	live.set(view.render())
	b.background(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, progressTimeout)
		defer cancel()
		res, err := recovered(func() (*dockerops.RestartResult, error) {
			return b.ops.Restart(ctx, p.Project, dockerops.RestartRequest{}, who, func(ev dockerops.Event) {
				view.apply(ev)
				live.set(view.render())
			})
		})
		b.logPanic(ctx, "telegram: restart panicked", err, slog.String("project", p.Project))
		outcome, detail := "ok", ""
		switch {
		case err != nil:
			outcome, detail = "error", clip(err.Error(), 300)
		case !res.OK:
			outcome, detail = "restart_failed", "some containers did not come back" // as REST audits it
		}
		// Recorded before the final message: whoever reads that can find the entry.
		b.record(ctx, who, dockerops.OpRestart, p.Project, outcome, detail)
		live.finish(ctx, view.final(b, res, err))
	})
}

// restartView is the restart's message: one line per container, as results come.
type restartView struct {
	project string
	containerLines
}

func (v *restartView) apply(ev dockerops.Event) {
	if ev.Container == "" {
		return
	}
	if ev.Result != nil {
		v.set(ev.Container, resultLine(*ev.Result))
	} else {
		v.set(ev.Container, "⏳ "+esc(clip(ev.Container, maxDynamic))+" restarting…")
	}
}

func (v *restartView) render() string {
	return v.text("🔄 <b>Restarting containers…</b> — " + esc(v.project))
}

func resultLine(r dockerops.ContainerResult) string {
	name := esc(clip(r.Name, maxDynamic))
	if !r.OK {
		detail := r.Error
		if detail == "" {
			detail = "state " + r.State + ", health " + r.Health
		}
		return fmt.Sprintf("❌ %s: %s", name, esc(clip(detail, maxDynamic)))
	}
	switch {
	case r.Skipped:
		return fmt.Sprintf("⏭️ %s: %s, left alone", name, esc(r.Condition))
	case r.Job:
		return fmt.Sprintf("✅ %s ran again: %s (%s)", name, esc(r.Condition), esc(seconds(r.DurationMS)))
	}
	how := seconds(r.DurationMS)
	if r.Health != "" && r.Health != dockerops.HealthNone {
		how = r.Health + ", " + how
	}
	return fmt.Sprintf("✅ %s restarted (%s)", name, esc(how))
}

func (v *restartView) final(b *Bot, res *dockerops.RestartResult, err error) *reply {
	r := &reply{}
	if err != nil {
		r.add("❌ <b>Restart of %s failed</b>", esc(v.project))
		r.add("%s", errorText("restart", err))
		r.add("%s", next(b.cmdRef("docker_status", v.project)))
		return r
	}
	failed := 0
	for _, c := range res.Containers {
		if !c.OK {
			failed++
		}
	}
	if res.OK {
		r.add("✅ <b>Restart complete</b> — %s", esc(v.project))
	} else {
		r.add("⚠️ <b>Restart finished with problems</b> — %s", esc(v.project))
	}
	for _, c := range res.Containers {
		r.add("%s", resultLine(c))
	}
	r.blank()
	if res.OK {
		r.add("All %d containers are back in %s.", len(res.Containers), seconds(res.DurationMS))
		r.add("%s", next(b.cmdRef("docker_status", v.project), b.cmdRef("docker_logs", v.project)))
	} else {
		r.add("%d of %d containers did not come back.", failed, len(res.Containers))
		r.add("%s", next(b.cmdRef("docker_logs", v.project), b.cmdRef("docker_status", v.project)))
	}
	return r
}

// pollDeployment is how often a running deploy's record is read, in case its final
// progress event went missing.
const pollDeployment = 5 * time.Second
