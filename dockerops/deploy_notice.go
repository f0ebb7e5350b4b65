package dockerops

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/scar-dev/scar/store"
)

// noticeTimeout bounds recording a notice: two writes to the local store.
const noticeTimeout = 10 * time.Second

// notice tells the alert chats of a deploy or rollback that ended failed_rolled_back
// or rollback_failed (at its gate or in its bake): a one-shot incident recorded and
// published by the watcher. Without a watcher nothing is watched and nothing is
// alerted; the requester has the record either way.
func (s *Service) notice(ctx context.Context, r *run) {
	if s.watcher == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), noticeTimeout)
	defer cancel()
	d := r.snapshot()
	in, ok := deployNotice(&d)
	if !ok {
		return
	}
	if err := s.watcher.Notice(ctx, in); err != nil {
		s.logger.Warn("recording the notice of a failed deploy", "deploy", d.ID, "error", err)
	}
}

// deployNotice is the incident that tells of a failed deploy or rollback: kind
// bake_failed, deploy_failed or rollback_failed, Summary what failed, Detail the
// error and the failing container's log tail. ok is false for other outcomes.
func deployNotice(d *Deployment) (in store.Incident, ok bool) {
	step := d.FailedStep
	if step == "" {
		step = "unknown step"
	}
	switch {
	case d.Status == DeployRollbackFailed && d.Kind == KindRollback:
		in.Kind, in.Summary = store.KindRollbackFailed, fmt.Sprintf("rollback %s failed at %s", d.ID, step)
	case d.Status == DeployRollbackFailed:
		in.Kind, in.Summary = store.KindRollbackFailed, fmt.Sprintf("deploy %s failed at %s and putting the previous version back failed too", d.ID, step)
	case d.Status == DeployFailedRolledBack && step == StageBake:
		in.Kind, in.Summary = store.KindBakeFailed, fmt.Sprintf("deploy %s failed in its bake and was rolled back", d.ID)
	case d.Status == DeployFailedRolledBack:
		in.Kind, in.Summary = store.KindDeployFailed, fmt.Sprintf("deploy %s failed at %s and was rolled back", d.ID, step)
	default:
		return in, false
	}
	in.Project, in.DeploymentID = d.Project, d.ID
	if c := d.Plan.Commit; c != nil {
		in.Summary += ", commit " + commitLine(c, c.SHA)
	}
	detail := []string{}
	if d.Error != "" {
		detail = append(detail, d.Error)
	}
	in.Detail = strings.Join(append(detail, d.LogTail...), "\n")
	return in, true
}
