package handlers

import (
	"context"
	"errors"
	"fmt"

	"github.com/mymmrac/telego"

	"github.com/scar-dev/scar/dockerops"
)

// dataStop is the data of the ⏹ Cancel button under a running deploy's progress
// message: "s:<deployment id>". Unlike a confirmation's token it names the deploy:
// the button acts on a record anyone allowed may see in the history anyway.
const dataStop = "s"

// stopKeyboard is the button that cancels deploy id.
func stopKeyboard(id string) *telego.InlineKeyboardMarkup {
	return &telego.InlineKeyboardMarkup{InlineKeyboard: [][]telego.InlineKeyboardButton{{
		{Text: "⏹ Cancel", CallbackData: dataStop + ":" + id},
	}}}
}

// stopDeploy answers a press of a deploy's ⏹ Cancel: the deploy is cancelled and
// rolls back, its progress message then ending with "Deploy cancelled". The press is
// taken from the user who asked for the deploy or any other user with full access
// who may act on the project (the same users who could have started it); no
// confirmation is asked, since a cancel only ever puts production back as it was.
func (b *Bot) stopDeploy(ctx context.Context, q *telego.CallbackQuery, chatID int64, id string) string {
	answer := func(text string, alert bool) { b.send.answerCallback(ctx, q.ID, text, alert) }
	user := q.From
	who := actor(user, chatID)
	if b.deploys == nil {
		answer("Deploys are not configured.", false)
		return updateHandled
	}
	d, err := b.deploys.Deployment(ctx, id)
	if err != nil {
		answer("This deploy is not known.", true)
		return updateHandled
	}
	p, err := b.projects.Resolve(d.Project)
	if err != nil || !p.AllowsUser(user.ID) || b.access.level(user.ID) < levelFull {
		b.record(ctx, who, "cancel", d.Project, "refused", "not allowed to deploy the project")
		answer(fmt.Sprintf("Only a user who may deploy %s can cancel its deploy.", d.Project), true)
		return updateHandled
	}
	_, err = b.deploys.CancelDeployment(ctx, id, who)
	switch {
	case err == nil:
		b.record(ctx, who, "cancel", d.Project, "ok", id)
		answer("Cancelling: the deploy stops and rolls back.", false)
	case errors.Is(err, dockerops.ErrNotCancellable):
		b.record(ctx, who, "cancel", d.Project, "not_cancellable", id)
		answer("Too late to cancel: the deploy has finished.", false)
	default:
		b.record(ctx, who, "cancel", d.Project, "error", clip(err.Error(), 300))
		answer(clip("Could not cancel: "+err.Error(), 190), true)
	}
	return updateHandled
}
