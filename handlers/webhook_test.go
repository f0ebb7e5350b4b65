package handlers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/internal/telegramfake"
)

func TestStartRegistersMenuAndWebhook(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *Deps) {
		c.WebhookURL = "https://scar.example.com/telegram/webhook"
		c.MaxConnections = 10
	})
	if h.bot.Username() != telegramfake.BotUsername {
		t.Errorf("username %q, want %q", h.bot.Username(), telegramfake.BotUsername)
	}
	cmds := h.api.Calls("setMyCommands")
	if len(cmds) != 1 {
		t.Fatalf("%d setMyCommands calls, want 1", len(cmds))
	}
	var menu []struct{ Command, Description string }
	if err := cmds[0].Decode("commands", &menu); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range menu {
		names = append(names, m.Command)
	}
	want := "docker_status docker_overview docker_logs docker_stats docker_restart docker_stop docker_start docker_deploy docker_promote docker_rollback docker_history docker_audit docker_alerts docker_mute docker_unmute docker_projects help"
	if strings.Join(names, " ") != want {
		t.Errorf("menu = %v, want %s", names, want)
	}

	hooks := h.api.Calls("setWebhook")
	if len(hooks) != 1 {
		t.Fatalf("%d setWebhook calls, want 1", len(hooks))
	}
	hook := hooks[0]
	if hook.String("url") != "https://scar.example.com/telegram/webhook" || hook.String("secret_token") != testSecret || hook.Int64("max_connections") != 10 {
		t.Errorf("setWebhook params %v", hook.Params)
	}
	if hook.String("allowed_updates") != `["message","callback_query"]` {
		t.Errorf("allowed_updates = %s", hook.String("allowed_updates"))
	}
}

func TestStartWithoutWebhookURLSetsNoWebhook(t *testing.T) {
	h := newHarness(t)
	if n := len(h.api.Calls("setWebhook")); n != 0 {
		t.Errorf("%d setWebhook calls without a webhook URL, want 0", n)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	base := func() Config {
		return Config{Token: telegramfake.Token, Mode: ModeWebhook, WebhookSecret: "x"}
	}
	tests := []struct {
		name   string
		change func(*Config)
	}{
		{"no token", func(c *Config) { c.Token = "" }},
		{"malformed token", func(c *Config) { c.Token = "not-a-token" }},
		{"webhook without secret", func(c *Config) { c.WebhookSecret = "" }},
		{"unknown mode", func(c *Config) { c.Mode = "carrier-pigeon" }},
	}
	h := newHarness(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			tc.change(&cfg)
			deps := h.deps
			deps.Updates, deps.Audit = h.db, h.db
			if _, err := New(cfg, deps); err == nil {
				t.Fatal("New succeeded; want an error")
			}
		})
	}
}

func TestWebhookRefusesWrongSecret(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name   string
		secret string
	}{
		{"missing", ""},
		{"wrong", "guess"},
		{"prefix of the right one", testSecret[:5]},
		{"right one with more", testSecret + "x"},
		{"case changed", strings.ToUpper(testSecret)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, h.hook.URL, bytes.NewReader(telegramfake.Message(h.id(), admin.ID, admin, "/docker_status")))
			if tc.secret != "" {
				req.Header.Set(secretHeader, tc.secret)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusUnauthorized || len(body) != 0 {
				t.Errorf("answered %d %q, want 401 with no body", res.StatusCode, body)
			}
		})
	}
	// The refused updates came first in admin's chat; had any been handled, its
	// answer would come before the marker's.
	h.marker(admin.ID)
	if got := h.sentTo(admin.ID); len(got) != 1 {
		t.Errorf("%d messages after refused updates and one /help, want 1: %q", len(got), got)
	}
	if n := h.updates("unknown", updateRejectedSecret); n != float64(len(tests)) {
		t.Errorf("rejected_secret count %v, want %d", n, len(tests))
	}
}

func TestWebhookAnswersOtherProblems(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name   string
		method string
		body   string
		want   int
	}{
		{"GET", http.MethodGet, "", http.StatusMethodNotAllowed},
		{"not JSON", http.MethodPost, "{", http.StatusOK},
		{"no update_id", http.MethodPost, `{"message":{}}`, http.StatusOK},
		{"too big", http.MethodPost, `{"update_id":1,"x":"` + strings.Repeat("a", 2<<20) + `"}`, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, h.hook.URL, strings.NewReader(tc.body))
			req.Header.Set(secretHeader, testSecret)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tc.want {
				t.Errorf("answered %d, want %d", res.StatusCode, tc.want)
			}
		})
	}
	if n := h.updates("unknown", updateMalformed); n != 3 {
		t.Errorf("malformed count %v, want 3", n)
	}
}

func TestDuplicateUpdateRunsOnceAlsoAcrossRestart(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	h := newHarness(t)
	h.ops.StatusFn = func(ctx context.Context, project string) (*dockerops.ProjectStatus, error) {
		mu.Lock()
		calls++
		mu.Unlock()
		return seedStatus(project), nil
	}
	update := telegramfake.Message(h.id(), admin.ID, admin, "/docker_status")
	h.post(update)
	h.post(update) // Telegram retrying
	h.marker(admin.ID)

	h.restart()
	h.post(update) // retried once more after scar restarted
	h.marker(admin.ID)

	mu.Lock()
	defer mu.Unlock()
	if calls != 1 {
		t.Errorf("status ran %d times for one update id, want 1", calls)
	}
	if n := h.updates("message", updateDuplicate); n != 2 {
		t.Errorf("duplicate count %v, want 2 (one before the restart, one after)", n)
	}
}

func TestUpdatesOfAChatRunInOrderAndChatsInParallel(t *testing.T) {
	h := newHarness(t)
	release := make(chan struct{})
	var once sync.Once
	h.ops.LogsFn = func(ctx context.Context, project string, req dockerops.LogsRequest) (*dockerops.LogsResult, error) {
		if req.Lines == 1 {
			// The first command of the admin's chat holds its chat until released.
			<-release
		}
		return &dockerops.LogsResult{Project: project, Container: "backend", Lines: numberedLines(req.Lines)}, nil
	}
	t.Cleanup(func() { once.Do(func() { close(release) }) })

	const n = 8
	for i := 1; i <= n; i++ {
		h.send(admin.ID, admin, fmt.Sprintf("/docker_logs %d", i))
	}
	// Another chat is not held up by the first.
	h.send(admin2.ID, admin2, "/docker_logs 3")
	h.waitSent(admin2.ID, "Last 3 lines")
	if got := h.sentTo(admin.ID); len(got) != 0 {
		t.Fatalf("admin's chat answered %d while its first command was held: %q", len(got), got)
	}
	once.Do(func() { close(release) })

	h.api.WaitFor(t, 10*time.Second, "all answers in admin's chat", func([]telegramfake.Call) bool {
		return len(h.sentTo(admin.ID)) == n
	})
	for i, text := range h.sentTo(admin.ID) {
		if want := fmt.Sprintf("Last %d lines", i+1); !strings.Contains(text, want) {
			t.Errorf("answer %d is %q, want %q: answers out of order", i, firstLine(text), want)
		}
	}
}

func TestIgnoredUpdates(t *testing.T) {
	h := newHarness(t)
	h.post(telegramfake.ChannelPost(h.id(), -100500, "/docker_status"))
	h.post(telegramfake.EditedMessage(h.id(), admin.ID, admin, "/docker_status"))
	h.post(telegramfake.Message(h.id(), admin.ID, robot, "/docker_status"))
	h.post(telegramfake.Message(h.id(), admin.ID, admin, "/docker_status@other_bot"))
	h.post([]byte(`{"update_id":` + fmt.Sprint(h.id()) + `,"some_future_kind":{"chat":{"id":1,"type":"private"}}}`))
	h.marker(admin.ID)
	if got := h.sentTo(admin.ID); len(got) != 1 {
		t.Errorf("%d messages, want only the marker's: %q", len(got), got)
	}
	if n := h.updates("channel_post", updateIgnored) + h.updates("edited_message", updateIgnored) + h.updates("message", updateIgnored) + h.updates("other", updateIgnored); n != 5 {
		t.Errorf("ignored count %v, want 5", n)
	}
	if len(h.api.Calls("sendMessage")) != 1 {
		t.Errorf("the channel post was answered: %s", telegramfake.Describe(h.api.Calls()))
	}
}

func TestShutdownWaitsForWorkAndRefusesNewUpdates(t *testing.T) {
	h := newHarness(t)
	started := make(chan struct{})
	release := make(chan struct{})
	h.ops.StatusFn = func(ctx context.Context, project string) (*dockerops.ProjectStatus, error) {
		close(started)
		<-release
		return seedStatus(project), nil
	}
	h.send(admin.ID, admin, "/docker_status")
	<-started

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- h.bot.Shutdown(ctx)
	}()
	h.api.WaitFor(t, 5*time.Second, "the webhook to refuse while shutting down", func([]telegramfake.Call) bool {
		return h.postSecret(testSecret, telegramfake.Message(h.id(), admin.ID, admin, "/help")) == http.StatusServiceUnavailable
	})
	select {
	case err := <-done:
		t.Fatalf("shutdown returned (%v) while a command was running", err)
	default:
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The running command finished and answered before Shutdown returned. A /help
	// probe that came before the shutdown began was taken and answered too.
	var status int
	for _, a := range h.sentTo(admin.ID) {
		switch {
		case strings.Contains(a, "Production Status"):
			status++
		case !strings.HasPrefix(a, "🤖 Commands"):
			t.Errorf("answer %q, want only the status and /help", a)
		}
	}
	if status != 1 {
		t.Errorf("answers %q, want the status once", h.sentTo(admin.ID))
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func TestProcessedIDsAreForgottenAfterRetention(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *Deps) { c.UpdateRetention = time.Hour })
	var runs sync.Map
	count := func() int {
		n := 0
		runs.Range(func(_, _ any) bool { n++; return true })
		return n
	}
	h.ops.StatusFn = func(ctx context.Context, project string) (*dockerops.ProjectStatus, error) {
		runs.Store(time.Now().UnixNano(), true)
		return seedStatus(project), nil
	}
	update := telegramfake.Message(h.id(), admin.ID, admin, "/docker_status")
	h.post(update)
	h.marker(admin.ID)
	h.post(update)
	h.marker(admin.ID)
	if count() != 1 {
		t.Fatalf("status ran %d times within the retention window, want 1", count())
	}
	// Past the window (and the prune interval), the id is forgotten: Telegram no
	// longer retries it, and ids restart at random after a quiet week anyway.
	h.clock.Advance(time.Hour + pruneEvery)
	h.marker(admin.ID) // the update that prunes
	h.post(update)
	h.marker(admin.ID)
	if count() != 2 {
		t.Errorf("status ran %d times after the window, want 2", count())
	}
}
