package handlers

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/scar-dev/scar/dockerops"
)

// maxDynamic bounds one dynamic string (a name, an error text) in an HTML line.
const maxDynamic = 600

// next is the closing line that points to what the user will likely want next.
func next(cmds ...string) string {
	return "👉 Next: " + strings.Join(cmds, " · ")
}

// cmdRef is a command for project as the user would type it: the project is left out
// when it is the default, so that Telegram's tap-to-send works.
func (b *Bot) cmdRef(command, project string) string {
	if project == "" || project == b.projects.Default() {
		return "/" + command
	}
	return "/" + command + " " + esc(project)
}

// title turns "project-orchestrator" into "Project-Orchestrator", as the seed's
// messages show project names.
func title(name string) string {
	r := []rune(name)
	up := true
	for i, c := range r {
		if up && c >= 'a' && c <= 'z' {
			r[i] = c - 'a' + 'A'
		}
		up = c == '-' || c == '_' || c == ' '
	}
	return string(r)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// duration renders an uptime the way people say it: "2h 15m", "3d 4h", "42s".
func duration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Second)
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	h := d / time.Hour
	d -= h * time.Hour
	m := d / time.Minute
	s := (d - m*time.Minute) / time.Second
	pair := func(a int64, ua string, b int64, ub string) string {
		if b == 0 {
			return fmt.Sprintf("%d%s", a, ua)
		}
		return fmt.Sprintf("%d%s %d%s", a, ua, b, ub)
	}
	switch {
	case days > 0:
		return pair(int64(days), "d", int64(h), "h")
	case h > 0:
		return pair(int64(h), "h", int64(m), "m")
	case m > 0:
		return pair(int64(m), "m", int64(s), "s")
	}
	return fmt.Sprintf("%ds", s)
}

// seconds renders milliseconds as "2.1s".
func seconds(ms float64) string { return fmt.Sprintf("%.1fs", ms/1000) }

// containerOK reports whether a container is as it should be: running and not
// unhealthy, or a one-shot job that completed.
func containerOK(c dockerops.ContainerStatus) bool {
	return (c.State == "running" && c.Health != dockerops.HealthUnhealthy) || jobCompleted(c)
}

func jobCompleted(c dockerops.ContainerStatus) bool { return c.Job && c.ExitCode == 0 && !c.OOMKilled }

// exitNote says why a stopped container stopped beyond its code, as its condition
// does: ", OOM killed", ", killed: likely out of memory".
func exitNote(c dockerops.ContainerStatus) string {
	_, rest, ok := strings.Cut(c.Condition, fmt.Sprintf(" %d, ", c.ExitCode))
	switch {
	case ok && strings.HasSuffix(rest, ")"):
		return ", " + strings.TrimSuffix(rest, ")")
	case c.OOMKilled:
		return ", OOM killed"
	}
	return ""
}

// formatStatus lays out a project's status as the seed did.
func (b *Bot) formatStatus(st *dockerops.ProjectStatus) *reply {
	r := &reply{}
	r.add("📊 <b>%s</b> - Production Status", esc(title(clip(st.Project, maxDynamic))))
	var troubled []string
	for _, c := range st.Containers {
		r.blank()
		name := "<b>" + esc(clip(c.Name, maxDynamic)) + "</b>"
		if c.Primary {
			name += " (primary)"
		}
		if c.Service != "" && c.Service != c.Name {
			name += " · service " + esc(clip(c.Service, maxDynamic))
		}
		r.add("%s", name)
		if !containerOK(c) {
			troubled = append(troubled, c.Name)
		}
		switch {
		case jobCompleted(c):
			r.add("✅ Job: Completed (exit 0)")
		case c.Job:
			r.add("❌ Job: <b>Failed</b> (exit %d%s)", c.ExitCode, esc(exitNote(c)))
		}
		switch c.State {
		case dockerops.StateNotFound:
			r.add("❓ Status: Not found (listed in the projects file, but no such container)")
			continue
		case "running":
			r.add("✅ Status: Running")
		case "restarting":
			r.add("🔄 Status: Restarting")
		case "paused":
			r.add("⏸️ Status: Paused")
		case "exited", "dead":
			if !c.Job {
				r.add("❌ Status: %s (exit code %d%s)", esc(capitalize(c.State)), c.ExitCode, esc(exitNote(c)))
			}
		default:
			r.add("❌ Status: %s", esc(capitalize(clip(c.State, maxDynamic))))
		}
		// A container that does not run has no health to speak of.
		switch {
		case c.State != "running" && c.State != "paused":
		case c.Health == dockerops.HealthHealthy:
			r.add("💚 Health: Healthy")
		case c.Health == dockerops.HealthUnhealthy:
			r.add("💔 Health: <b>Unhealthy</b>")
			if _, check, ok := strings.Cut(c.Condition, "; last check: "); ok {
				r.add("🩺 Last check: %s", esc(clip(check, maxDynamic)))
			}
		case c.Health == dockerops.HealthStarting:
			r.add("🟡 Health: Starting")
		default:
			r.add("⚪ Health: no health check")
		}
		if c.State == "running" {
			r.add("⏱️ Uptime: %s", duration(time.Duration(c.UptimeSeconds)*time.Second))
		}
		if c.RestartCount > 0 {
			r.add("🔁 Restarts: %d", c.RestartCount)
		}
		if len(c.Ports) > 0 {
			r.add("🔌 Ports: %s", esc(clip(strings.Join(c.Ports, ", "), maxDynamic)))
		}
		if c.Image != "" {
			r.add("🏷️ Image: %s", esc(clip(c.Image, maxDynamic)))
		}
	}
	if len(st.Containers) == 0 && len(st.Problems) == 0 {
		r.blank()
		r.add("⚠️ No containers found for this project.")
	}
	for _, pr := range st.Problems {
		r.blank()
		r.add("⚙️ %s", esc(clip(pr, maxDynamic)))
	}
	r.blank()
	r.add("💡 Production: %s", esc(clip(st.Production, maxDynamic)))
	r.add("📁 Workspace: %s", esc(clip(st.Workspace, maxDynamic)))
	if st.PendingChanges {
		r.add("📝 The workspace has changes not deployed yet.")
	}
	r.blank()
	switch {
	case len(troubled) > 0:
		r.add("⚠️ %d of %d containers need attention: %s", len(troubled), len(st.Containers), esc(clip(strings.Join(troubled, ", "), maxDynamic)))
		r.add("%s", next(b.cmdRef("docker_logs", st.Project), b.cmdRef("docker_restart", st.Project)))
	case st.PendingChanges:
		r.add("%s", next(b.cmdRef("docker_deploy", st.Project), b.cmdRef("docker_logs", st.Project)))
	default:
		r.add("%s", next(b.cmdRef("docker_logs", st.Project)))
	}
	return r
}

// logTime is how log timestamps read.
const logTime = "2006-01-02 15:04:05"

func logLine(l dockerops.LogLine) string {
	if l.Time.IsZero() {
		return l.Text
	}
	return "[" + l.Time.UTC().Format(logTime) + "] " + l.Text
}

// fileName keeps letters, digits, dots, dashes and underscores.
var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// formatLogs shows log lines in <pre>; as a .log document when they are very long.
func (b *Bot) formatLogs(res *dockerops.LogsResult, asked int) *reply {
	r := &reply{}
	header := fmt.Sprintf("📜 <b>%s</b> - Last %d lines", esc(clip(res.Container, maxDynamic)), len(res.Lines))
	if len(res.Lines) < asked {
		header += fmt.Sprintf(" (asked for %d)", asked)
	}
	footer := next(b.cmdRef("docker_status", res.Project))
	r.add("%s", header)
	if len(res.Lines) == 0 {
		r.add("<i>No output.</i>")
	}
	raw := make([]string, len(res.Lines))
	for i, l := range res.Lines {
		raw[i] = logLine(l)
	}
	r.addPre(raw...)
	r.add("%s", footer)

	name := unsafeFileChars.ReplaceAllString(res.Container, "_")
	r.doc = &document{
		name:    fmt.Sprintf("%s-%s.log", clip(name, 64), b.now().UTC().Format("20060102-150405")),
		data:    []byte(strings.Join(raw, "\n") + "\n"),
		caption: header + "\n(too long for messages: sent as a file)\n" + footer,
	}
	return r
}

// errorText is the one place that turns an operation's error into Telegram text.
func errorText(what string, err error) string {
	var (
		busy *dockerops.BusyError
		pe   *panicError
	)
	switch {
	case errors.As(err, &pe):
		return "❌ Could not " + what + ": scar hit an internal error (the details are in its log)."
	case errors.As(err, &busy):
		return fmt.Sprintf("⏳ <b>%s</b> is busy: %s by %s since %s UTC. Try again when it has finished.",
			esc(busy.Project), esc(busy.Operation), esc(clip(busy.Who, maxDynamic)), busy.Since.UTC().Format("15:04:05"))
	case errors.Is(err, dockerops.ErrDockerUnavailable):
		return "🐳 Docker is not answering, so I cannot " + what + ". Is the engine running?"
	case errors.Is(err, dockerops.ErrBadInput):
		return "⚠️ " + esc(clip(err.Error(), maxDynamic))
	case errors.Is(err, dockerops.ErrMisconfigured):
		return "⚙️ Could not " + what + ", the projects file needs a fix: " + esc(clip(err.Error(), maxDynamic))
	case errors.Is(err, dockerops.ErrNotDeployed):
		return "📭 Could not " + what + ": " + esc(clip(err.Error(), maxDynamic))
	case errors.Is(err, dockerops.ErrNotFound):
		return "❓ Not found: " + esc(clip(err.Error(), maxDynamic))
	}
	return "❌ Could not " + what + ": " + esc(clip(err.Error(), maxDynamic))
}
