package handlers

import (
	"context"
	"errors"
	"fmt"

	"github.com/scar-dev/scar/confirm"
	"github.com/scar-dev/scar/dockerops"
)

// opPromote is a promotion's action in confirmations and the audit log. It deploys,
// and takes the lock of a deploy of the project it deploys to.
const opPromote = "promote"

// askPromote answers "/docker_promote <from> <to>": the plan of deploying to <to> the
// commit <from> runs now, to confirm as a deploy's.
func (b *Bot) askPromote(ctx context.Context, in *request) string {
	if len(in.cmd.Args) != 2 {
		return esc((&usageError{usage: "/docker_promote <from> <to>"}).Error()) +
			"\nIt deploys to &lt;to&gt; exactly the commit &lt;from&gt; runs now; both must be git projects of one remote."
	}
	fromName, toName := in.cmd.Args[0], in.cmd.Args[1]
	to, refusal := b.resolve(ctx, in, toName, opPromote)
	if to == nil {
		return refusal
	}
	from, refusal := b.resolve(ctx, in, fromName, opPromote)
	if from == nil {
		return refusal
	}
	refuse := func(detail, text string) string {
		b.record(ctx, in.who(), opPromote, to.Name, "refused", detail)
		return text
	}
	switch {
	case from.Name == to.Name:
		return refuse("same project", fmt.Sprintf("⚠️ <b>%s</b> would be promoted to itself: name two projects, /docker_promote &lt;from&gt; &lt;to&gt;.", esc(to.Name)))
	case !from.IsGit() || !to.IsGit():
		notGit := from.Name
		if !to.IsGit() {
			notGit = to.Name
		}
		return refuse("not a git project", fmt.Sprintf("⚠️ <b>%s</b> deploys from its workspace: only git projects are promoted, by commit.", esc(notGit)))
	}
	if b.deploys == nil {
		return errNoDeploys
	}
	readCtx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	commit, err := b.deploys.PromoteCommit(readCtx, from.Name, to.Name)
	if err != nil {
		b.record(ctx, in.who(), opPromote, to.Name, "refused", clip(err.Error(), 300))
		return promoteRefusal(from.Name, err) + "\n" + next(b.cmdRef("docker_history", from.Name))
	}
	planCtx := dockerops.WithPromotion(dockerops.WithRef(readCtx, commit.SHA), from.Name)
	plan, err := b.deploys.PlanDeploy(planCtx, to.Name)
	if err != nil {
		if text := gitRefusal(to, commit.SHA, err); text != "" {
			b.record(ctx, in.who(), opPromote, to.Name, "refused", clip(err.Error(), 300))
			return text
		}
		return errorText("plan the promotion", err) + "\n" + next(b.cmdRef("docker_status", to.Name))
	}
	if plan.Commit == nil {
		plan.Commit = commit
	}
	return b.showDeploy(ctx, in, to, plan, from.Name)
}

// promoteRefusal says why from's commit cannot be promoted.
func promoteRefusal(from string, err error) string {
	switch {
	case errors.Is(err, dockerops.ErrNotFound), errors.Is(err, dockerops.ErrNotDeployed):
		return fmt.Sprintf("📭 Nothing to promote: <b>%s</b> has no successful deploy (%s).", esc(from), esc(clip(err.Error(), maxDynamic)))
	case errors.Is(err, dockerops.ErrBadInput):
		return "⚠️ Cannot promote: " + esc(clip(err.Error(), maxDynamic))
	}
	return errorText("promote", err)
}

// retryRef is the command that asks again for what p asked.
func (b *Bot) retryRef(p confirm.Pending) string {
	if p.Action == opPromote {
		if from := decodeDetail(p.Detail).from; from != "" {
			return "/docker_promote " + esc(from) + " " + esc(p.Project)
		}
	}
	return b.cmdRef(commandOf(p.Action), p.Project)
}
