package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/internal/telegramfake"
)

// TestCheckReportsTelegramWebhookAndAccess runs `scar check` against the fake Bot API:
// it reports the webhook Telegram has, its last delivery error and the updates
// waiting (getWebhookInfo), says when no webhook is set, and warns when no user is
// allowed, since then nobody can use the bot.
func TestCheckReportsTelegramWebhookAndAccess(t *testing.T) {
	base := func(api *telegramfake.Server, extra ...string) []string {
		return append([]string{"SCAR_PROJECTS_FILE=" + projectsFile(t, ""), "SCAR_STATE_DIR=" + t.TempDir(),
			"DOCKER_HOST=unix:///nonexistent/docker.sock",
			"SCAR_TELEGRAM_TOKEN=" + telegramfake.Token, "SCAR_TELEGRAM_API_URL=" + api.URL,
			"SCAR_TELEGRAM_WEBHOOK_SECRET=" + webhookSecret}, extra...)
	}
	tests := []struct {
		name    string
		setup   func(api *telegramfake.Server)
		env     []string
		want    []string
		notWant []string
	}{
		{
			name: "webhook failing, nobody allowed",
			setup: func(api *telegramfake.Server) {
				api.QueueUpdate(telegramfake.Message(1, 42, telegramfake.User{ID: 42}, "/docker_status"))
				api.QueueUpdate(telegramfake.Message(2, 42, telegramfake.User{ID: 42}, "/docker_status"))
				api.SetWebhookError(time.Now().Add(-3*time.Minute), "Wrong response from the webhook: 502 Bad Gateway")
			},
			want: []string{
				"pending_update_count 2",
				`last_error_message "Wrong response from the webhook: 502 Bad Gateway"`,
				"warn  telegram access",
				"nobody can use the bot",
				"SCAR_TELEGRAM_ALLOWED_USERS",
			},
		},
		{
			name:    "no webhook set",
			env:     []string{"SCAR_TELEGRAM_ALLOWED_USERS=42"},
			want:    []string{"warn  telegram hook", "no webhook is set", "SCAR_TELEGRAM_WEBHOOK_URL", "ok    telegram access", "1 full"},
			notWant: []string{"nobody can use"},
		},
		{
			name:    "polling",
			env:     []string{"SCAR_TELEGRAM_MODE=polling", "SCAR_TELEGRAM_READONLY_USERS=7"},
			want:    []string{"ok    telegram hook", "polling mode", "pending_update_count 0", "1 read-only"},
			notWant: []string{"warn  telegram hook", "nobody can use"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := telegramfake.New(t)
			if tc.setup != nil {
				tc.setup(api)
			}
			var out bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			run(ctx, []string{"check"}, base(api, tc.env...), &out, &out)
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("check output lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(out.String(), w) {
					t.Errorf("check output has %q:\n%s", w, out.String())
				}
			}
			if n := len(api.Calls("getWebhookInfo")); n != 1 {
				t.Errorf("%d getWebhookInfo calls, want 1", n)
			}
			if n := len(api.Calls("setWebhook", "deleteWebhook", "sendMessage")); n != 0 {
				t.Errorf("check changed something at Telegram: %s", telegramfake.Describe(api.Calls()))
			}
		})
	}
}

// TestCheckCreatesNoStateDir runs `scar check` with the default state directory
// (./.scar-state) in an empty working directory: it checks that scar could create it
// and leaves nothing behind.
func TestCheckCreatesNoStateDir(t *testing.T) {
	wd := t.TempDir()
	t.Chdir(wd)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	run(ctx, []string{"check"}, []string{"SCAR_PROJECTS_FILE=" + projectsFile(t, ""), "DOCKER_HOST=unix:///nonexistent/docker.sock"}, &out, &out)
	if !strings.Contains(out.String(), "ok    state dir") || !strings.Contains(out.String(), "created at start") {
		t.Errorf("check output does not say the state dir would be created:\n%s", out.String())
	}
	ents, err := os.ReadDir(wd)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Errorf("check left %v in the working directory", ents)
	}
	// An existing state dir is checked for writing and left as it was.
	dir := filepath.Join(wd, "state")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	run(ctx, []string{"check"}, []string{"SCAR_PROJECTS_FILE=" + projectsFile(t, ""), "SCAR_STATE_DIR=" + dir, "DOCKER_HOST=unix:///nonexistent/docker.sock"}, &out, &out)
	if !strings.Contains(out.String(), "ok    state dir") || !strings.Contains(out.String(), "made 0700 at start") {
		t.Errorf("check output for an existing, loose state dir:\n%s", out.String())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("check left %v in the state dir", ents)
	}
}
