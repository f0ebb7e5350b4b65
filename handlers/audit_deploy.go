package handlers

import (
	"context"
	"log/slog"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/store"
)

// recordDeployment audits a deploy or rollback that started. The entry names the
// deployment, so its outcome is the deployment's ("ok", failed_rolled_back,
// rollback_failed) once it has finished, even when it finishes after this entry is
// written (see store.AuditEntry.DeploymentID).
func (b *Bot) recordDeployment(ctx context.Context, who dockerops.Actor, action string, d *dockerops.Deployment) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditWriteTimeout)
	defer cancel()
	err := b.audit.RecordAudit(ctx, store.AuditEntry{
		At: b.now(), Who: who.Name, Source: who.Source, Action: action, Project: d.Project,
		Outcome: d.Status, Detail: d.ID, DeploymentID: d.ID,
	})
	if err != nil {
		b.log.ErrorContext(ctx, "telegram: audit", slog.String("action", action), slog.Any("error", err))
	}
}
