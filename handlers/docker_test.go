package handlers

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/internal/telegramfake"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// The real types satisfy the interfaces handlers declares.
var (
	_ Operations = (*dockerops.Service)(nil)
	_ Deployer   = (*dockerops.Service)(nil)
	_ Projects   = (*projects.Store)(nil)
	_ UpdateLog  = (*store.DB)(nil)
	_ AuditLog   = (*store.DB)(nil)
)

// dockerProject runs two containers of a fresh Compose project on the real engine —
// web (primary, published port) and cache — waits until both are healthy, and
// returns a harness tweak that gives the bot the real dockerops Service and a
// projects file naming them.
func dockerProject(t *testing.T) (name string, tweak func(*Config, *Deps)) {
	t.Helper()
	cli := dockertest.Client(t)
	image := dockertest.BuildAppImage(t)
	cp := dockertest.UniqueName(t, "tg")
	web, cache := dockertest.V2Name(cp, "web", 1), dockertest.V2Name(cp, "cache", 1)
	ids := []string{
		dockertest.RunContainer(t, cli, dockertest.ContainerSpec{Name: web, Image: image, Labels: dockertest.ComposeLabels(cp, "web", 1, ""),
			Env: []string{"LOG_LINES=3"}, Publish: map[string]string{"8000/tcp": ""}}),
		dockertest.RunContainer(t, cli, dockertest.ContainerSpec{Name: cache, Image: image, Labels: dockertest.ComposeLabels(cp, "cache", 1, ""),
			Env: []string{"VERSION=cache"}}),
	}
	for _, id := range ids {
		dockertest.WaitHealth(t, cli, id, dockerops.HealthHealthy, 30*time.Second)
	}

	dir := t.TempDir()
	for _, d := range []string{"workspace", "production"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ps := writeProjects(t, fmt.Sprintf(`{
  %q: {
    "workspace": %q,
    "production": %q,
    "compose_project": %q,
    "containers": [%q, %q],
    "primary_container": %q,
    "health_timeout": "30s"
  }
}`, cp, filepath.Join(dir, "workspace"), filepath.Join(dir, "production"), cp, web, cache, web))

	engine, err := dockerops.NewClient("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	return cp, func(_ *Config, d *Deps) {
		d.Projects = ps
		d.Ops = dockerops.New(engine, ps, d.Metrics, d.Logger, dockerops.WithPollInterval(100*time.Millisecond))
		d.Deploys = nil
	}
}

// TestAcceptanceOnTheRealEngine is the acceptance: a bot with a token, a
// secret and the fake Bot API answers /docker_status with the project's containers
// and health, and /docker_restart then yes restarts them and reports each — through
// the webhook and through long polling.
func TestAcceptanceOnTheRealEngine(t *testing.T) {
	for _, mode := range []string{ModeWebhook, ModePolling} {
		t.Run(mode, func(t *testing.T) {
			cp, real := dockerProject(t)
			tweaks := []func(*Config, *Deps){real}
			if mode == ModePolling {
				tweaks = append(tweaks, polling)
			}
			h := newHarness(t, tweaks...)
			deliver := func(body []byte) { h.post(body) }
			if mode == ModePolling {
				h.runPolling()
				deliver = h.api.QueueUpdate
			}
			web, cache := dockertest.V2Name(cp, "web", 1), dockertest.V2Name(cp, "cache", 1)

			deliver(telegramfake.Message(h.id(), admin.ID, admin, "/docker_status"))
			status := rendered(t, h.waitSent(admin.ID, "Production Status"))
			t.Logf("status:\n%s", status)
			for _, want := range []string{
				web + " (primary) · service web\n✅ Status: Running\n💚 Health: Healthy\n⏱️ Uptime: ",
				"🔌 Ports: ", "→8000/tcp",
				cache + " · service cache\n✅ Status: Running\n💚 Health: Healthy",
				"👉 Next: /docker_logs",
			} {
				if !strings.Contains(status, want) {
					t.Errorf("status lacks %q:\n%s", want, status)
				}
			}

			deliver(telegramfake.Message(h.id(), admin.ID, admin, "/docker_logs 3"))
			logs := h.waitSent(admin.ID, "📜 "+web)
			if !strings.Contains(logs.String("text"), "<pre>") {
				t.Errorf("logs not in <pre>: %q", logs.String("text"))
			}

			deliver(telegramfake.Message(h.id(), admin.ID, admin, "/docker_restart"))
			c := h.waitSent(admin.ID, "Containers to restart:\n- "+web+"\n- "+cache)
			deliver(telegramfake.Message(h.id(), admin.ID, admin, "yes"))
			final := h.waitSentWithin(admin.ID, "Restart complete", time.Minute)
			text := rendered(t, final)
			t.Logf("restart report:\n%s", text)
			for _, want := range []string{"✅ " + web + " restarted (healthy, ", "✅ " + cache + " restarted (healthy, ", "All 2 containers are back"} {
				if !strings.Contains(text, want) {
					t.Errorf("restart report lacks %q:\n%s", want, text)
				}
			}
			if int(final.Int64("message_id")) != c.MessageID {
				t.Errorf("the report is not an edit of the confirmation")
			}
		})
	}
}

// waitSentWithin is waitSent with a longer deadline, for operations on the engine.
func (h *harness) waitSentWithin(chat int64, want string, timeout time.Duration) telegramfake.Call {
	h.t.Helper()
	var found telegramfake.Call
	h.api.WaitFor(h.t, timeout, fmt.Sprintf("a message in chat %d containing %q", chat, want), func([]telegramfake.Call) bool {
		for _, c := range h.api.Sent() {
			if c.Int64("chat_id") == chat && strings.Contains(rendered(h.t, c), want) {
				found = c
				return true
			}
		}
		return false
	})
	return found
}

// TestDeployAndRollbackOnTheRealEngine drives a deploy and its rollback from Telegram
// through the real dockerops Service, Compose and the engine: the plan in the
// confirmation, the stages, the final report, the history.
func TestDeployAndRollbackOnTheRealEngine(t *testing.T) {
	cp := newContentProject(t, "tgdeploy")
	prod := cp.prod
	h := cp.harness(t)
	readProd := func() string {
		b, err := os.ReadFile(filepath.Join(prod, "content/index.txt"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	h.send(admin.ID, admin, "/docker_deploy")
	c := h.waitSentWithin(admin.ID, "Deploy Workspace → Production", time.Minute)
	plan := rendered(t, c)
	for _, want := range []string{"📄 Files: 0 added, 1 changed, 0 deleted", "✏️ content/index.txt", "🔨 Rebuild: no"} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, plan)
		}
	}
	h.press(admin.ID, admin, c.MessageID, buttons(t, c)[0])
	done := rendered(t, h.waitSentWithin(admin.ID, "Deployment complete!", 2*time.Minute))
	t.Logf("deploy report:\n%s", done)
	if got := readProd(); got != "v2\n" {
		t.Errorf("production content %q after the deploy, want v2", got)
	}

	h.send(admin.ID, admin, "/docker_history")
	hist := rendered(t, h.waitSentWithin(admin.ID, "Deploy history", time.Minute))
	if !strings.Contains(hist, "✅ ") || !strings.Contains(hist, " deploy ") {
		t.Errorf("history:\n%s", hist)
	}

	h.send(admin.ID, admin, "/docker_rollback")
	h.waitSentWithin(admin.ID, "Roll Back Production", time.Minute)
	h.send(admin.ID, admin, "yes")
	back := rendered(t, h.waitSentWithin(admin.ID, "Rollback complete!", 2*time.Minute))
	t.Logf("rollback report:\n%s", back)
	if got := readProd(); got != "v1\n" {
		t.Errorf("production content %q after the rollback, want v1", got)
	}
}
