package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/mymmrac/telego"

	"github.com/scar-dev/scar/confirm"
	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/gitsource"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// Final stages of a deploy's progress.
const (
	stageDone   = dockerops.StageDone
	stageFailed = dockerops.StageFailed
)

// maxPlanFiles is how many file names a plan shows.
const maxPlanFiles = 12

// stageLabels name deploy stages as the seed's messages did.
var stageLabels = map[string]string{
	dockerops.StagePlan:     "📋 Planning",
	dockerops.StageBackup:   "💾 Backing up production",
	dockerops.StageSync:     "📦 Copying files",
	dockerops.StageBuild:    "🔨 Building new image",
	dockerops.StageApply:    "🔄 Restarting containers",
	dockerops.StageHealth:   "🩺 Checking health",
	dockerops.StageRollback: "↩️ Rolling back",
}

func (b *Bot) askDeploy(ctx context.Context, in *request) string {
	name, ref, err := b.deployArgs(in.cmd)
	if err != nil {
		return esc(err.Error())
	}
	p, refusal := b.resolve(ctx, in, name, dockerops.OpDeploy)
	if p == nil {
		return refusal
	}
	if ref != "" && !p.IsGit() {
		b.record(ctx, in.who(), dockerops.OpDeploy, p.Name, "refused", "a ref for a project without git")
		return refRefusal(p.Name) + "\n" + next(b.cmdRef("docker_deploy", p.Name))
	}
	if b.deploys == nil {
		return errNoDeploys
	}
	readCtx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	if ref != "" {
		readCtx = dockerops.WithRef(readCtx, ref)
	}
	plan, err := b.deploys.PlanDeploy(readCtx, p.Name)
	if err != nil {
		if text := gitRefusal(p, ref, err); text != "" {
			b.record(ctx, in.who(), dockerops.OpDeploy, p.Name, "refused", clip(err.Error(), 300))
			return text + "\n" + next(b.cmdRef("docker_history", p.Name))
		}
		return errorText("plan the deploy", err) + "\n" + next(b.cmdRef("docker_status", p.Name))
	}
	return b.showDeploy(ctx, in, p, plan, "")
}

// showDeploy shows a deploy's plan — from the workspace, of a git commit, or of the
// commit project from runs (a promotion) — and asks to confirm it; a read-only user
// gets the plan only.
func (b *Bot) showDeploy(ctx context.Context, in *request, p *projects.Project, plan *dockerops.DeployPlan, from string) string {
	action := dockerops.OpDeploy
	if from != "" {
		action = opPromote
	}
	if plan.Empty() {
		return nothingToDeploy(p.Name, plan) + "\n" + next(b.cmdRef("docker_status", p.Name))
	}
	r := deployPlanReply(p, plan, from, "")
	if in.level < levelFull {
		return b.showPlanOnly(ctx, in, p.Name, r)
	}
	return b.askDetail(ctx, in, action, p.Name, planDetail(plan, from).encode(), r)
}

// nothingToDeploy answers an empty plan.
func nothingToDeploy(project string, plan *dockerops.DeployPlan) string {
	if plan.Commit != nil {
		return fmt.Sprintf("✅ Nothing to deploy: production of <b>%s</b> matches commit %s.", esc(project), commitText(plan.Commit))
	}
	return fmt.Sprintf("✅ Nothing to deploy: production of <b>%s</b> matches the workspace.", esc(project))
}

// deployPlanReply is a deploy's plan as the confirmation shows it; note follows the
// title ("new plan").
func deployPlanReply(p *projects.Project, plan *dockerops.DeployPlan, from, note string) *reply {
	r := &reply{}
	switch {
	case from != "":
		commit := "its running commit"
		if plan.Commit != nil {
			commit = "commit " + commitText(plan.Commit)
		}
		r.add("🚀 <b>promote %s → %s</b>%s: %s", esc(from), esc(p.Name), note, commit)
		r.blank()
		if plan.Commit != nil && plan.Commit.Branch != "" {
			r.add("🌿 branch %s", esc(clip(plan.Commit.Branch, 100)))
		}
	case p.IsGit():
		r.add("🚀 <b>Deploy Commit → Production</b> — %s%s", esc(p.Name), note)
		r.blank()
		r.add("Source: %s", esc(clip(remoteText(p.Git.Remote), maxDynamic)))
		addCommit(r, plan.Commit)
	default:
		r.add("🚀 <b>Deploy Workspace → Production</b> — %s%s", esc(p.Name), note)
		r.blank()
		r.add("Source: %s", esc(clip(p.Workspace, maxDynamic)))
	}
	r.add("Target: %s", esc(clip(p.Production, maxDynamic)))
	r.blank()
	addPlan(r, plan)
	return r
}

// showPlanOnly answers a read-only user's /docker_deploy: the plan, with no button
// and nothing waiting for a confirmation, and a line saying they may not deploy.
func (b *Bot) showPlanOnly(ctx context.Context, in *request, project string, r *reply) string {
	b.record(ctx, in.who(), "deploy_plan", project, "ok", "read-only user")
	r.blank()
	r.add("🔒 Your access is read-only: this is the plan only, you may not deploy. A user with full access can run %s.", b.cmdRef("docker_deploy", project))
	b.sendReply(ctx, in.chatID, r)
	return ""
}

// addPlan describes what a deploy changes.
func addPlan(r *reply, plan *dockerops.DeployPlan) {
	r.add("📄 Files: %d added, %d changed, %d deleted (%s)", len(plan.Added), len(plan.Changed), len(plan.Deleted), size(plan.Bytes))
	shown := 0
	for _, group := range []struct {
		mark  string
		files []string
	}{{"➕", plan.Added}, {"✏️", plan.Changed}, {"➖", plan.Deleted}} {
		for _, f := range group.files {
			if shown == maxPlanFiles {
				break
			}
			r.add("%s <code>%s</code>", group.mark, esc(clip(f, 200)))
			shown++
		}
	}
	if total := len(plan.Added) + len(plan.Changed) + len(plan.Deleted); total > shown {
		r.add("… and %d more", total-shown)
	}
	addProductionNotes(r, plan)
	if plan.Rebuild {
		reason := ""
		if plan.RebuildReason != "" {
			reason = " — " + esc(clip(plan.RebuildReason, maxDynamic))
		}
		r.add("🔨 Rebuild: yes%s", reason)
	} else {
		r.add("🔨 Rebuild: no")
	}
	if len(plan.ServiceActions) > 0 {
		addServiceActions(r, plan.ServiceActions, false)
	} else if len(plan.Services) > 0 {
		r.add("🔄 Services: %s", esc(clip(strings.Join(plan.Services, ", "), maxDynamic)))
	}
}

// addProductionNotes names what the deploy leaves alone or changes in production
// beyond the workspace's content: hand edits it overwrites, env files it keeps,
// setuid bits it drops.
func addProductionNotes(r *reply, plan *dockerops.DeployPlan) {
	for _, note := range []struct {
		text  string
		files []string
	}{
		{"⚠️ Edited in production since the last deploy (overwritten; the backup keeps them)", plan.EditedInProduction},
		{"🔒 Kept: production's own env files, not deployed", plan.Kept},
		{"🛡 Deployed without setuid/setgid", plan.SetuidStripped},
	} {
		if len(note.files) == 0 {
			continue
		}
		shown := note.files[:min(len(note.files), maxPlanFiles)]
		codes := make([]string, len(shown))
		for i, f := range shown {
			codes[i] = "<code>" + esc(clip(f, 200)) + "</code>"
		}
		more := ""
		if len(note.files) > len(shown) {
			more = fmt.Sprintf(" and %d more", len(note.files)-len(shown))
		}
		r.add("%s: %s%s", note.text, strings.Join(codes, ", "), more)
	}
}

// serviceMarks mark each service action in a plan.
var serviceMarks = map[string]string{
	dockerops.ActionCreate: "🆕", dockerops.ActionRecreate: "♻️", dockerops.ActionRestart: "🔁", dockerops.ActionRemove: "🗑",
}

// undoVerbs say what undoing a deploy does to a service the deploy acted on.
var undoVerbs = map[string]string{
	dockerops.ActionCreate: "removed again", dockerops.ActionRecreate: "recreated as before",
	dockerops.ActionRestart: "restarted", dockerops.ActionRemove: "brought back",
}

// addServiceActions lists what the deploy does to each service and why — with undo,
// what rolling it back does — and names the services left alone on one line.
func addServiceActions(r *reply, actions []dockerops.ServiceAction, undo bool) {
	r.add("🔄 Services:")
	var untouched []string
	for _, a := range actions {
		if a.Action == dockerops.ActionNone {
			untouched = append(untouched, a.Service)
			continue
		}
		if undo {
			r.add("%s <b>%s</b>: %s (the deploy: %s — %s)", serviceMarks[a.Action], esc(clip(a.Service, 100)), undoVerbs[a.Action], esc(a.Action), esc(clip(a.Reason, maxDynamic)))
			continue
		}
		r.add("%s <b>%s</b>: %s — %s", serviceMarks[a.Action], esc(clip(a.Service, 100)), esc(a.Action), esc(clip(a.Reason, maxDynamic)))
	}
	if len(untouched) > 0 {
		r.add("✔️ left running: %s", esc(clip(strings.Join(untouched, ", "), maxDynamic)))
	}
}

// askAgain answers a confirmed deploy whose plan changed before it ran: nothing was
// deployed; the new plan is shown and confirmed anew.
func (b *Bot) askAgain(ctx context.Context, live *liveMessage, p confirm.Pending, who dockerops.Actor, plan *dockerops.DeployPlan) {
	b.record(ctx, who, p.Action, p.Project, "plan_changed", plan.Fingerprint)
	done := &reply{}
	done.add("⚠️ The plan of <b>%s</b> changed after you confirmed it (the workspace or production changed): nothing was deployed.", esc(p.Project))
	live.finish(ctx, done)
	if plan.Empty() {
		r := &reply{}
		r.add("%s", nothingToDeploy(p.Project, plan))
		_, _ = b.sendReply(ctx, p.ChatID, r)
		return
	}
	project, err := b.projects.Resolve(p.Project)
	if err != nil {
		failed := &reply{}
		failed.add("%s", errorText("find the project", err))
		_, _ = b.sendReply(ctx, p.ChatID, failed)
		return
	}
	old := decodeDetail(p.Detail)
	detail := planDetail(plan, old.from)
	if detail.sha == "" {
		detail.sha = old.sha
	}
	r := deployPlanReply(project, plan, old.from, " (new plan)")
	in := &request{chatID: p.ChatID, user: telego.User{ID: p.UserID}}
	if text := b.askDetail(ctx, in, p.Action, p.Project, detail.encode(), r); text != "" {
		failed := &reply{}
		failed.add("%s", text)
		_, _ = b.sendReply(ctx, p.ChatID, failed)
	}
}

func size(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func (b *Bot) askRollback(ctx context.Context, in *request) string {
	name, err := projectArg(in.cmd)
	if err != nil {
		return esc(err.Error())
	}
	p, refusal := b.resolve(ctx, in, name, dockerops.OpRollback)
	if p == nil {
		return refusal
	}
	if b.deploys == nil {
		return errNoDeploys
	}
	readCtx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	d, err := b.deploys.PlanRollback(readCtx, p.Name)
	if errors.Is(err, dockerops.ErrNotFound) {
		return fmt.Sprintf("Nothing to roll back: <b>%s</b> has no deploy that can be undone.\n%s", esc(p.Name), next(b.cmdRef("docker_history", p.Name)))
	}
	if err != nil {
		return errorText("find the deploy to undo", err)
	}
	r := &reply{}
	r.add("⏪ <b>Roll Back Production</b> — %s", esc(p.Name))
	r.blank()
	r.add("Undo deploy <code>%s</code> by %s, %s UTC", esc(d.ID), esc(clip(d.Who, maxDynamic)), d.StartedAt.UTC().Format("2006-01-02 15:04"))
	undone := d.Plan
	actions := undone.ServiceActions
	if len(actions) > 0 {
		undone.ServiceActions, undone.Services = nil, nil
	}
	addPlan(r, &undone)
	if len(actions) > 0 {
		addServiceActions(r, actions, true)
	}
	return b.ask(ctx, in, dockerops.OpRollback, p.Name, r)
}

// runDeploy starts a confirmed deploy or rollback and edits the confirmation message
// stage by stage until the final record is in.
func (b *Bot) runDeploy(p confirm.Pending, who dockerops.Actor) {
	live := b.newLive(p.ChatID, p.MessageID)
	detail := decodeDetail(p.Detail)
	view := &deployView{kind: p.Action, project: p.Project, from: detail.from}
	live.set(view.render())
	finished := make(chan struct{})
	var once sync.Once
	progress := func(ev dockerops.Event) {
		view.apply(ev)
		live.set(view.render())
		if ev.Stage == stageDone || ev.Stage == stageFailed {
			once.Do(func() { close(finished) })
		}
	}
	b.background(func(ctx context.Context) {
		start := b.deploys.Deploy
		if p.Action == dockerops.OpRollback {
			start = b.deploys.Rollback
		} else {
			// Run the plan that was confirmed, of the commit it was made of, and
			// nothing else.
			ctx = detail.context(ctx)
		}
		d, err := recovered(func() (*dockerops.Deployment, error) { return start(ctx, p.Project, who, progress) })
		b.logPanic(ctx, "telegram: "+p.Action+" panicked", err, slog.String("project", p.Project))
		if changed, ok := errors.AsType[*dockerops.PlanChangedError](err); ok {
			b.askAgain(ctx, live, p, who, &changed.Plan)
			return
		}
		if err != nil {
			r := &reply{}
			if text := b.gitRefusalOf(p.Project, detail.sha, err); text != "" {
				r.add("%s", text)
			} else {
				r.add("%s", errorText(p.Action, err))
			}
			r.add("%s", next(b.cmdRef("docker_status", p.Project)))
			b.record(ctx, who, p.Action, p.Project, "error", clip(err.Error(), 300))
			live.finish(ctx, r)
			return
		}
		view.setCommit(d.Plan.Commit)
		live.set(view.render())
		if d.Kind == dockerops.KindDeploy && !d.Done() {
			live.setMarkup(stopKeyboard(d.ID))
		}
		d = b.awaitDeployment(ctx, d, finished)
		live.finish(ctx, view.final(b, d))
		b.recordDeployment(ctx, who, p.Action, d)
		b.followBake(ctx, p.ChatID, d)
	})
}

// awaitDeployment waits for d to finish and returns its final record. The record is
// read every pollDeployment, in case the final event went missing, and often once
// the final event came: the record is written just after it.
func (b *Bot) awaitDeployment(ctx context.Context, d *dockerops.Deployment, finished <-chan struct{}) *dockerops.Deployment {
	wait := time.NewTimer(pollDeployment)
	defer wait.Stop()
	for !d.Done() {
		select {
		case <-finished:
			finished = nil
		case <-wait.C:
		case <-ctx.Done():
			return d
		}
		if rec, err := b.deploys.Deployment(ctx, d.ID); err == nil {
			d = rec
		}
		if finished == nil {
			wait.Reset(pollFinished)
		} else {
			wait.Reset(pollDeployment)
		}
	}
	return d
}

// pollFinished is how often the record is read after the final event.
const pollFinished = 100 * time.Millisecond

// plural says "1 file", "3 files".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// deployView is a deploy's message: the stages so far, the current one last.
type deployView struct {
	kind    string
	project string
	from    string // a promotion's source project
	mu      sync.Mutex
	commit  *gitsource.Commit
	stages  []string
	message map[string]string
}

// setCommit names the commit the deploy checks out (a rollback: puts back), once the
// running record tells it.
func (v *deployView) setCommit(c *gitsource.Commit) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.commit = c
}

func (v *deployView) apply(ev dockerops.Event) {
	if ev.Stage == "" || ev.Stage == stageDone || ev.Stage == stageFailed {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.message == nil {
		v.message = make(map[string]string)
	}
	if _, seen := v.message[ev.Stage]; !seen {
		v.stages = append(v.stages, ev.Stage)
	}
	v.message[ev.Stage] = ev.Message
}

func (v *deployView) lines(finished bool) []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	for i, s := range v.stages {
		mark := "✅"
		if i == len(v.stages)-1 && !finished {
			mark = "⏳"
		}
		label, known := stageLabels[s]
		if !known {
			label = "• " + esc(capitalize(clip(s, 40)))
		}
		l := mark + " " + label
		if msg := v.message[s]; msg != "" {
			l += ": " + esc(clip(msg, 200))
		}
		out = append(out, l)
	}
	return out
}

func (v *deployView) render() string {
	head := []string{"🚀 <b>Deploying…</b> — " + esc(v.project)}
	switch {
	case v.kind == dockerops.OpRollback:
		head[0] = "⏪ <b>Rolling back…</b> — " + esc(v.project)
	case v.from != "":
		head[0] = "🚀 <b>Promoting…</b> " + esc(v.from) + " → " + esc(v.project)
	}
	v.mu.Lock()
	if v.commit != nil {
		head = append(head, "📌 commit "+commitText(v.commit))
	}
	v.mu.Unlock()
	return strings.Join(append(head, v.lines(false)...), "\n")
}

// final renders the finished record: what happened and what to do next.
func (v *deployView) final(b *Bot, d *dockerops.Deployment) *reply {
	r := &reply{}
	name := esc(v.project)
	what := "Deploy"
	if d.Kind == dockerops.KindRollback {
		what = "Rollback"
	}
	switch d.Status {
	case dockerops.DeploySuccess:
		for _, l := range v.lines(true) {
			r.add("%s", l)
		}
		if d.Kind == dockerops.KindRollback {
			r.add("✅ <b>Rollback complete!</b> — %s", name)
		} else {
			r.add("✅ <b>Deployment complete!</b> — %s", name)
		}
		if d.Kind == dockerops.KindRollback && d.Undoes != "" {
			r.add("Deploy <code>%s</code> undone.", esc(d.Undoes))
		}
		addDeployedCommit(r, d)
		rebuild := "no rebuild"
		if d.Plan.Rebuild {
			rebuild = "rebuilt"
		}
		r.add("📄 %s · 🔨 %s · ⏱️ %s · id <code>%s</code>", plural(len(d.Plan.Added)+len(d.Plan.Changed)+len(d.Plan.Deleted), "file"),
			rebuild, duration(d.FinishedAt.Sub(d.StartedAt)), esc(d.ID))
		if until, baking := bakingUntil(d); baking {
			r.add("🧪 Baking until %s: rolled back automatically if a container dies, is OOM-killed or turns unhealthy before then.", esc(until))
		}
		r.add("%s", next(b.cmdRef("docker_status", v.project), b.cmdRef("docker_logs", v.project)))
		return r
	case dockerops.DeployNothingToDo:
		r.add("✅ Nothing to deploy: production of <b>%s</b> matches the workspace.", name)
		r.add("%s", next(b.cmdRef("docker_status", v.project)))
		return r
	case dockerops.DeployRunning:
		r.add("⏳ <b>%s still running</b> — %s (id <code>%s</code>); scar stopped watching it.", what, name, esc(d.ID))
		r.add("%s", next(b.cmdRef("docker_history", v.project)))
		return r
	}
	step := d.FailedStep
	if step == "" {
		step = "unknown step"
	}
	for _, l := range v.lines(true) {
		r.add("%s", l)
	}
	if d.Status == dockerops.DeployCancelled {
		r.add("⏹ <b>%s cancelled</b> at <b>%s</b> — %s", what, esc(step), name)
	} else {
		r.add("❌ <b>%s failed</b> at <b>%s</b> — %s", what, esc(step), name)
	}
	addDeployedCommit(r, d)
	if d.Error != "" {
		r.add("%s", esc(clip(d.Error, maxDynamic)))
	}
	if d.Status == dockerops.DeployRollbackFailed {
		r.add("🚨 Restoring the previous state failed too: production may be inconsistent.")
	} else {
		r.add("↩️ Rolled back: production is as it was before.")
	}
	if len(d.LogTail) > 0 {
		tail := d.LogTail[max(0, len(d.LogTail)-15):]
		r.add("Last log lines:")
		for _, l := range tail {
			r.addPre(clip(l, 300))
		}
	}
	r.add("%s", next(b.cmdRef("docker_logs", v.project), b.cmdRef("docker_rollback", v.project), b.cmdRef("docker_status", v.project)))
	return r
}

// formatHistory lists recent deploys and rollbacks, newest first.
func (b *Bot) formatHistory(project string, ds []dockerops.Deployment) *reply {
	r := &reply{}
	r.add("📚 <b>Deploy history</b> — %s", esc(project))
	if len(ds) == 0 {
		r.add("No deploys yet.")
		r.add("%s", next(b.cmdRef("docker_deploy", project)))
		return r
	}
	for _, d := range ds {
		mark := map[string]string{
			dockerops.DeploySuccess: "✅", dockerops.DeployFailedRolledBack: "❌", dockerops.DeployRollbackFailed: "🚨",
			dockerops.DeployRunning: "⏳", dockerops.DeployNothingToDo: "➖", dockerops.DeployCancelled: "⏹",
		}[d.Status]
		if mark == "" {
			mark = "•"
		}
		l := fmt.Sprintf("%s %s %s <code>%s</code> by %s", mark, d.StartedAt.UTC().Format("01-02 15:04"), esc(d.Kind), esc(d.ID), esc(clip(d.Who, 100)))
		if d.Kind == dockerops.KindRollback && d.Undoes != "" {
			l += " (undid <code>" + esc(d.Undoes) + "</code>)"
		}
		commit := historyCommit(&d)
		switch d.Status {
		case dockerops.DeployFailedRolledBack:
			l += " · failed at " + esc(d.FailedStep) + ", rolled back"
		case dockerops.DeployRollbackFailed:
			l += " · failed at " + esc(d.FailedStep) + ", rollback failed"
		case dockerops.DeployCancelled:
			l += " · cancelled at " + esc(d.FailedStep) + ", rolled back"
		}
		if until, baking := bakingUntil(&d); baking {
			l += " · 🧪 baking until " + esc(until)
		}
		if !d.FinishedAt.IsZero() {
			l += " · " + duration(d.FinishedAt.Sub(d.StartedAt))
		}
		r.add("%s", l)
		if commit != "" {
			r.add("   %s", commit)
		}
	}
	r.add("%s", next(b.cmdRef("docker_status", project), b.cmdRef("docker_rollback", project)))
	return r
}

// formatAudit lists audit entries, newest first; project "" means all projects.
func (b *Bot) formatAudit(project string, entries []store.AuditEntry) *reply {
	r := &reply{}
	scope := "all projects"
	if project != "" {
		scope = esc(project)
	}
	r.add("🧾 <b>Audit</b> — %s, newest first", scope)
	if len(entries) == 0 {
		r.add("Nothing recorded yet.")
	}
	for _, e := range entries {
		l := fmt.Sprintf("%s %s %s", e.At.UTC().Format("01-02 15:04"), esc(clip(e.Who, 100)), esc(e.Action))
		if project == "" && e.Project != "" {
			l += " " + esc(e.Project)
		}
		l += " — " + esc(e.Outcome)
		if e.Detail != "" {
			l += " (" + esc(clip(e.Detail, 100)) + ")"
		}
		r.add("%s", l)
	}
	r.add("%s", next(b.cmdRef("docker_history", project)))
	return r
}
