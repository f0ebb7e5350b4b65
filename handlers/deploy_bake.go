package handlers

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/scar-dev/scar/dockerops"
)

// pollBake is how often the record of a baking deploy is read to learn how its bake
// ended.
const pollBake = time.Second

const bakingPrefix = "baking until "

// bakingUntil reports whether d is baking, and until when ("15:04:05 UTC").
func bakingUntil(d *dockerops.Deployment) (string, bool) {
	rest, ok := strings.CutPrefix(d.Bake, bakingPrefix)
	if !ok || d.Status != dockerops.DeploySuccess {
		return "", false
	}
	if t, err := time.Parse(time.RFC3339, rest); err == nil {
		return t.UTC().Format("15:04:05 UTC"), true
	}
	return rest, true
}

// followBake waits, when d is a deploy that is baking, until its bake ends, and tells
// the chat that asked for it when the bake rolled it back. A bake that passes, or
// that a restart, deploy or rollback ended, is not worth a message.
func (b *Bot) followBake(ctx context.Context, chatID int64, d *dockerops.Deployment) {
	if _, baking := bakingUntil(d); !baking {
		return
	}
	tick := time.NewTicker(pollBake)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rec, err := b.deploys.Deployment(ctx, d.ID)
		if err != nil {
			continue // the next tick asks again; the store is local
		}
		if _, baking := bakingUntil(rec); baking {
			continue
		}
		if rec.Status == dockerops.DeploySuccess {
			return
		}
		view := &deployView{kind: dockerops.OpDeploy, project: rec.Project}
		if _, err := b.sendReply(ctx, chatID, view.final(b, rec)); err != nil {
			b.log.WarnContext(ctx, "telegram: telling the requester of a failed bake", slog.String("deploy", rec.ID), slog.Any("error", err))
		}
		return
	}
}
