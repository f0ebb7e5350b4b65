package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"

	"github.com/scar-dev/scar/confirm"
	"github.com/scar-dev/scar/dockerops"
)

// stopStarter is what /docker_stop and /docker_start call; *dockerops.Service has it.
// It is asked of the bot's Operations when needed rather than added to them, so that
// Operations stays what the other commands use.
type stopStarter interface {
	Stop(ctx context.Context, project string, req dockerops.RestartRequest, who dockerops.Actor, progress dockerops.Progress) (*dockerops.RestartResult, error)
	Start(ctx context.Context, project string, req dockerops.RestartRequest, who dockerops.Actor, progress dockerops.Progress) (*dockerops.RestartResult, error)
}

var _ stopStarter = (*dockerops.Service)(nil)

// containerWord is what a container name or Compose service may look like, as the
// engine allows names; anything else is refused before the project is looked at.
var containerWord = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$`)

// stopStartArgs reads "/docker_stop [project] [container...]": the first argument is
// the project, the rest name containers (or Compose services) of it; none names all.
// Containers of the default project are named after its name, so that a container
// is never taken for a project.
func stopStartArgs(cmd Command) (project string, containers []string, err error) {
	if len(cmd.Args) == 0 {
		return "", nil, nil
	}
	for _, c := range cmd.Args[1:] {
		if !containerWord.MatchString(c) {
			return "", nil, &usageError{usage: "/" + cmd.Name + " [project] [container...]: " + clip(c, maxDynamic) + " is not a container name"}
		}
		if !slices.Contains(containers, c) {
			containers = append(containers, c)
		}
	}
	return cmd.Args[0], containers, nil
}

// stopStartOps returns the bot's operations as a stopStarter, or the answer to give
// when they cannot stop and start.
func (b *Bot) stopStartOps() (stopStarter, string) {
	ops, ok := b.ops.(stopStarter)
	if !ok {
		return nil, "❌ This scar cannot stop or start containers."
	}
	return ops, ""
}

// askStop answers /docker_stop with the containers it would stop and Confirm/Cancel
// buttons, as /docker_restart does; the confirmation keeps the named containers.
func (b *Bot) askStop(ctx context.Context, in *request) string {
	name, containers, err := stopStartArgs(in.cmd)
	if err != nil {
		return esc(err.Error())
	}
	if _, refusal := b.stopStartOps(); refusal != "" {
		return refusal
	}
	p, refusal := b.resolve(ctx, in, name, dockerops.OpStop)
	if p == nil {
		return refusal
	}
	readCtx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	st, err := b.ops.Status(readCtx, p.Name)
	if err != nil {
		return errorText("read the containers to stop", err)
	}
	chosen, unknown := chooseContainers(st.Containers, containers)
	if unknown != "" {
		b.record(ctx, in.who(), dockerops.OpStop, p.Name, "refused", "unknown container "+clip(unknown, maxDynamic))
		return fmt.Sprintf("❓ <b>%s</b> has no container %s: nothing was stopped.\n%s",
			esc(p.Name), esc(clip(unknown, maxDynamic)), next(b.cmdRef("docker_status", p.Name)))
	}
	if len(chosen) == 0 {
		return fmt.Sprintf("⚠️ <b>%s</b> has no containers to stop.\n%s", esc(p.Name), next(b.cmdRef("docker_status", p.Name)))
	}
	r := &reply{}
	r.add("⚠️ <b>Stop Production Containers</b> — %s", esc(p.Name))
	r.blank()
	r.add("Containers to stop (they stay stopped until /docker_start):")
	for _, c := range chosen {
		r.add("- %s (%s)", esc(clip(c.Name, maxDynamic)), esc(c.Condition))
	}
	return b.askDetail(ctx, in, dockerops.OpStop, p.Name, strings.Join(containers, ","), r)
}

// chooseContainers is the status entries that names designate (by container name or
// Compose service; all of them when names is empty), and the first name that
// designates none.
func chooseContainers(all []dockerops.ContainerStatus, names []string) (chosen []dockerops.ContainerStatus, unknown string) {
	if len(names) == 0 {
		return all, ""
	}
	for _, n := range names {
		hit := false
		for _, c := range all {
			if c.Name == n || (c.Service != "" && c.Service == n) {
				hit = true
				if !slices.ContainsFunc(chosen, func(o dockerops.ContainerStatus) bool { return o.Name == c.Name }) {
					chosen = append(chosen, c)
				}
			}
		}
		if !hit {
			return nil, n
		}
	}
	return chosen, ""
}

// runStop stops what the confirmation p names, in the background, editing its
// message as each container goes.
func (b *Bot) runStop(p confirm.Pending, who dockerops.Actor) {
	var containers []string
	if p.Detail != "" {
		containers = strings.Split(p.Detail, ",")
	}
	b.runStopStart(p.ChatID, p.MessageID, dockerops.OpStop, p.Project, containers, who)
}

// startNow answers /docker_start. A start asks no confirmation: it undoes a stop and
// changes nothing that runs (a running container is left alone).
func (b *Bot) startNow(ctx context.Context, in *request) string {
	name, containers, err := stopStartArgs(in.cmd)
	if err != nil {
		return esc(err.Error())
	}
	if _, refusal := b.stopStartOps(); refusal != "" {
		return refusal
	}
	p, refusal := b.resolve(ctx, in, name, dockerops.OpStart)
	if p == nil {
		return refusal
	}
	view := &stopStartView{op: dockerops.OpStart, project: p.Name, containers: containers}
	msgID, err := b.sendReply(ctx, in.chatID, &reply{lines: []line{{text: view.render()}}})
	if err != nil {
		return "" // the chat does not take messages now; nothing was started
	}
	b.runStopStart(in.chatID, msgID, dockerops.OpStart, p.Name, containers, in.who())
	return ""
}

// runStopStart runs a stop or start in the background, editing message msgID with
// its progress, then with its end and the next step, and audits it.
func (b *Bot) runStopStart(chatID int64, msgID int, op, project string, containers []string, who dockerops.Actor) {
	ops, refusal := b.stopStartOps()
	live := b.newLive(chatID, msgID)
	view := &stopStartView{op: op, project: project, containers: containers}
	live.set(view.render())
	b.background(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, progressTimeout)
		defer cancel()
		if ops == nil {
			live.finish(ctx, &reply{lines: []line{{text: refusal}}})
			return
		}
		call := ops.Start
		if op == dockerops.OpStop {
			call = ops.Stop
		}
		req := dockerops.RestartRequest{Containers: containers}
		res, err := recovered(func() (*dockerops.RestartResult, error) {
			return call(ctx, project, req, who, func(ev dockerops.Event) {
				view.apply(ev)
				live.set(view.render())
			})
		})
		b.logPanic(ctx, "telegram: "+op+" panicked", err, slog.String("project", project))
		outcome, detail := "ok", strings.Join(containers, ",")
		switch {
		case err != nil:
			outcome, detail = "error", clip(err.Error(), 300)
		case !res.OK:
			outcome, detail = op+"_failed", failedNames(res) // as REST audits it
		}
		// Recorded before the final message: whoever reads that can find the entry.
		b.record(ctx, who, op, project, outcome, detail)
		live.finish(ctx, view.final(b, res, err))
	})
}

// failedNames lists the containers of res that failed, with why.
func failedNames(res *dockerops.RestartResult) string {
	var failed []string
	for _, c := range res.Containers {
		if !c.OK {
			failed = append(failed, c.Name+": "+c.Error)
		}
	}
	return clip(strings.Join(failed, "; "), 300)
}

// stopStartView is a stop's or start's message: one line per container, as results come.
type stopStartView struct {
	op         string
	project    string
	containers []string
	containerLines
}

func (v *stopStartView) apply(ev dockerops.Event) {
	if ev.Container == "" {
		return
	}
	if ev.Result != nil {
		v.set(ev.Container, v.resultLine(*ev.Result))
	} else {
		v.set(ev.Container, "⏳ "+esc(clip(ev.Container, maxDynamic))+" "+v.verb("stopping", "starting")+"…")
	}
}

// verb picks the word for a stop or for a start.
func (v *stopStartView) verb(stop, start string) string {
	if v.op == dockerops.OpStop {
		return stop
	}
	return start
}

func (v *stopStartView) render() string {
	return v.text(v.verb("⏹ <b>Stopping containers…</b> — ", "▶️ <b>Starting containers…</b> — ") + esc(v.project))
}

func (v *stopStartView) resultLine(r dockerops.ContainerResult) string {
	name := esc(clip(r.Name, maxDynamic))
	switch {
	case !r.OK:
		return resultLine(r)
	case r.Skipped:
		return fmt.Sprintf("⏭️ %s: %s (%s)", name, v.verb("already stopped", "already running"), esc(r.Condition))
	case v.op == dockerops.OpStop:
		return fmt.Sprintf("⏹ %s stopped: %s (%s)", name, esc(r.Condition), esc(seconds(r.DurationMS)))
	case r.Job:
		return fmt.Sprintf("✅ %s ran: %s (%s)", name, esc(r.Condition), esc(seconds(r.DurationMS)))
	}
	return fmt.Sprintf("✅ %s started: %s (%s)", name, esc(r.Condition), esc(seconds(r.DurationMS)))
}

// final is the message once the stop or start has ended, with the next step: after a
// stop, the start that undoes it; after a start, the status.
func (v *stopStartView) final(b *Bot, res *dockerops.RestartResult, err error) *reply {
	r := &reply{}
	what := v.verb("Stop", "Start")
	undo := b.cmdRef("docker_start", v.project)
	if len(v.containers) > 0 {
		if !strings.Contains(undo, " ") {
			undo += " " + esc(v.project) // containers are named after the project
		}
		undo += " " + esc(strings.Join(v.containers, " "))
	}
	if err != nil {
		r.add("❌ <b>%s of %s failed</b>", what, esc(v.project))
		r.add("%s", errorText(strings.ToLower(what), err))
		r.add("%s", next(b.cmdRef("docker_status", v.project)))
		return r
	}
	if res.OK {
		r.add("%s <b>%s complete</b> — %s", v.verb("⏹", "✅"), what, esc(v.project))
	} else {
		r.add("⚠️ <b>%s finished with problems</b> — %s", what, esc(v.project))
	}
	for _, c := range res.Containers {
		r.add("%s", v.resultLine(c))
	}
	r.blank()
	failed := 0
	for _, c := range res.Containers {
		if !c.OK {
			failed++
		}
	}
	switch {
	case v.op == dockerops.OpStop && res.OK:
		r.add("%d of %d containers are stopped; they stay stopped until started again.", len(res.Containers), len(res.Containers))
		r.add("%s", next(undo))
	case v.op == dockerops.OpStop:
		r.add("%d of %d containers did not stop.", failed, len(res.Containers))
		r.add("%s", next(b.cmdRef("docker_status", v.project), b.cmdRef("docker_logs", v.project)))
	case res.OK:
		r.add("All %d containers are up in %s.", len(res.Containers), seconds(res.DurationMS))
		r.add("%s", next(b.cmdRef("docker_status", v.project)))
	default:
		r.add("%d of %d containers did not come up.", failed, len(res.Containers))
		r.add("%s", next(b.cmdRef("docker_logs", v.project), b.cmdRef("docker_status", v.project)))
	}
	return r
}
