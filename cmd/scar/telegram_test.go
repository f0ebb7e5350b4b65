package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/internal/telegramfake"
)

const webhookSecret = "webhook-secret-0123456789"

// TestTelegramEndToEnd starts scar as a user would, with a bot token, a webhook secret
// and the fake Bot API, and sends it a real /docker_status update: through the webhook,
// and through long polling. The answer shows the project's containers and health.
func TestTelegramEndToEnd(t *testing.T) {
	user := telegramfake.User{ID: 4242, Username: "sam"}
	for _, mode := range []string{"webhook", "polling"} {
		t.Run(mode, func(t *testing.T) {
			path, _ := e2eProject(t)
			api := telegramfake.New(t)
			s := startServe(t, "SCAR_PROJECTS_FILE="+path, "SCAR_API_TOKENS="+e2eToken,
				"SCAR_TELEGRAM_TOKEN="+telegramfake.Token, "SCAR_TELEGRAM_API_URL="+api.URL,
				"SCAR_TELEGRAM_MODE="+mode, "SCAR_TELEGRAM_WEBHOOK_SECRET="+webhookSecret,
				"SCAR_TELEGRAM_ALLOWED_USERS=4242")
			api.WaitCalls(t, "setMyCommands", 1)

			update := telegramfake.Message(1, user.ID, user, "/docker_status")
			if mode == "webhook" {
				for _, tc := range []struct {
					secret string
					want   int
				}{{"wrong", 401}, {webhookSecret, 200}} {
					req, _ := http.NewRequest("POST", s.url+"/telegram/webhook", strings.NewReader(string(update)))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("X-Telegram-Bot-Api-Secret-Token", tc.secret)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					if resp.StatusCode != tc.want {
						t.Fatalf("webhook with secret %q: %d, want %d", tc.secret, resp.StatusCode, tc.want)
					}
				}
			} else {
				api.QueueUpdate(update)
			}
			calls := api.WaitFor(t, 30*time.Second, "the status reply", func([]telegramfake.Call) bool {
				for _, c := range api.Sent() {
					if strings.Contains(c.String("text"), "Production Status") {
						return true
					}
				}
				return false
			})
			var text string
			for _, c := range api.Sent() {
				if strings.Contains(c.String("text"), "Production Status") {
					text = c.String("text")
				}
			}
			for _, want := range []string{"web", "db", "Healthy", "→8000/tcp"} {
				if !strings.Contains(text, want) {
					t.Errorf("status reply lacks %q:\n%s", want, text)
				}
			}
			if n := len(api.Calls("sendMessage")); n != 1 {
				t.Errorf("%d sendMessage calls, want exactly the one reply (the wrong-secret update must do nothing):\n%s", n, telegramfake.Describe(calls))
			}
		})
	}
}

// TestWebhookWithoutURLWarnsAtStart starts scar in webhook mode without
// SCAR_TELEGRAM_WEBHOOK_URL and with nobody allowed: it never calls setWebhook, so it
// says at start that the webhook must be set by other means and how, and that nobody
// can use the bot. With the URL set, it calls setWebhook and gives no such warning.
func TestWebhookWithoutURLWarnsAtStart(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      []string
		warn     bool
		setHooks int
	}{
		{"no URL, nobody allowed", nil, true, 0},
		{"URL set", []string{"SCAR_TELEGRAM_WEBHOOK_URL=https://scar.example.com/telegram/webhook", "SCAR_TELEGRAM_ALLOWED_USERS=42"}, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := telegramfake.New(t)
			s := startServe(t, append([]string{"SCAR_PROJECTS_FILE=" + projectsFile(t, ""), "DOCKER_HOST=unix:///nonexistent/docker.sock",
				"SCAR_API_TOKENS=" + e2eToken, "SCAR_TELEGRAM_TOKEN=" + telegramfake.Token, "SCAR_TELEGRAM_API_URL=" + api.URL,
				"SCAR_TELEGRAM_WEBHOOK_SECRET=" + webhookSecret}, tc.env...)...)
			api.WaitCalls(t, "setMyCommands", 1)
			if tc.setHooks > 0 {
				api.WaitCalls(t, "setWebhook", tc.setHooks)
			}
			// Only the Telegram lines: the event watcher warns too here, of the
			// Docker host that does not exist.
			var lines []string
			for _, line := range strings.Split(s.logs.String(), "\n") {
				if !strings.Contains(line, "event stream") {
					lines = append(lines, line)
				}
			}
			logs := strings.Join(lines, "\n")
			for _, want := range []string{`"level":"WARN"`, "SCAR_TELEGRAM_WEBHOOK_URL is not set", "setWebhook", "/telegram/webhook", "scar check"} {
				if strings.Contains(logs, want) != tc.warn {
					t.Errorf("start log has %q: %v, want %v:\n%s", want, !tc.warn, tc.warn, logs)
				}
			}
			if got := strings.Contains(logs, "nobody can use the bot"); got != tc.warn {
				t.Errorf("start log warns that nobody can use the bot: %v, want %v:\n%s", got, tc.warn, logs)
			}
			if n := len(api.Calls("setWebhook")); n != tc.setHooks {
				t.Errorf("%d setWebhook calls, want %d", n, tc.setHooks)
			}
		})
	}
}
