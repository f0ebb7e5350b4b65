package handlers

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mymmrac/telego"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/internal/telegramfake"
)

// polling switches a harness config to long polling with a short poll.
func polling(c *Config, _ *Deps) {
	c.Mode = ModePolling
	c.WebhookSecret = ""
	c.PollTimeout = time.Second
}

// runPolling runs the bot's polling until the test ends, checking it returns nil.
func (h *harness) runPolling() {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.bot.RunPolling(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				h.t.Errorf("RunPolling: %v", err)
			}
		case <-time.After(10 * time.Second):
			h.t.Error("RunPolling did not return after its context ended")
		}
	})
}

func TestPollingEndToEnd(t *testing.T) {
	h := newHarness(t, polling)
	runs := restartCounter(h)
	// A webhook left over from webhook mode: polling must delete it first.
	if err := h.bot.api.SetWebhook(context.Background(), &telego.SetWebhookParams{URL: "https://old.example.com/hook"}); err != nil {
		t.Fatal(err)
	}
	status := telegramfake.Message(h.id(), admin.ID, admin, "/docker_status")
	h.api.QueueUpdate(status)
	h.api.QueueUpdate(status) // delivered twice
	h.api.QueueUpdate(telegramfake.ChannelPost(h.id(), -100, "/docker_status"))
	h.runPolling()

	h.waitSent(admin.ID, "Production Status")
	h.api.QueueUpdate(telegramfake.Message(h.id(), admin.ID, admin, "/docker_restart"))
	c := h.waitSent(admin.ID, "Restart Production Containers")
	h.api.QueueUpdate(telegramfake.Message(h.id(), admin.ID, admin, "yes"))
	h.wantRestartComplete(admin.ID, c)

	calls := h.api.Calls("deleteWebhook", "getUpdates")
	if len(calls) < 2 || calls[0].Method != "deleteWebhook" {
		t.Fatalf("first call %s, want deleteWebhook before getUpdates", calls[0].Method)
	}
	if h.api.Webhook() != "" {
		t.Error("the webhook is still set")
	}
	if got := calls[1].String("allowed_updates"); got != `["message","callback_query"]` {
		t.Errorf("getUpdates allowed_updates = %s", got)
	}
	// Every update is confirmed by the next offset.
	h.api.WaitFor(t, 5*time.Second, "all updates confirmed", func([]telegramfake.Call) bool { return h.api.PendingUpdates() == 0 })
	if n := len(h.api.Calls("sendMessage")); n != 2 {
		t.Errorf("%d messages, want 2 (status, confirmation; the report edits the latter): %q", n, h.sentTo(admin.ID))
	}
	if runs.Load() != 1 {
		t.Errorf("%d restarts, want 1", runs.Load())
	}
	if n := h.updates("message", updateDuplicate); n != 1 {
		t.Errorf("duplicate count %v, want 1", n)
	}
}

func TestPollingAfterRestartSkipsWhatRan(t *testing.T) {
	h := newHarness(t, polling)
	var runs atomic.Int32
	status := h.ops.StatusFn
	h.ops.StatusFn = func(ctx context.Context, project string) (*dockerops.ProjectStatus, error) {
		runs.Add(1)
		return status(ctx, project)
	}
	update := telegramfake.Message(h.id(), admin.ID, admin, "/docker_status")
	h.api.QueueUpdate(update)
	h.runPolling()
	h.waitSent(admin.ID, "Production Status")

	h.restart()
	// Telegram delivers the update again, as it does when scar stopped before the
	// offset that confirms it reached Telegram.
	h.api.QueueUpdate(update)
	h.runPolling()
	h.api.QueueUpdate(telegramfake.Message(h.id(), admin.ID, admin, "/help"))
	h.waitSent(admin.ID, "Commands")
	if runs.Load() != 1 {
		t.Errorf("status ran %d times, want 1", runs.Load())
	}
	if strings.Count(strings.Join(h.sentTo(admin.ID), "\n"), "Production Status") != 1 {
		t.Errorf("status answered more than once: %q", h.sentTo(admin.ID))
	}
}

func TestPollingWaitsForAnUnreachableBotAPI(t *testing.T) {
	h := newHarness(t, polling)
	h.bot.send.backoff = func(int) time.Duration { return time.Millisecond }
	down := telegramfake.Failure{Status: 502}
	h.api.Fail("deleteWebhook", down, down, down, down) // one call's every attempt
	h.api.Fail("getUpdates", down, down, down, down)
	h.api.QueueUpdate(telegramfake.Message(h.id(), admin.ID, admin, "/help"))
	h.runPolling()
	h.waitSent(admin.ID, "Commands")
}

func TestMentionsWorkOnceTheUsernameIsKnown(t *testing.T) {
	h := newHarness(t)
	// As if Start had failed: scar does not know its name yet.
	h.bot.username.Store(nil)
	h.send(admin.ID, admin, "/docker_status@"+telegramfake.BotUsername)
	h.waitSent(admin.ID, "Production Status")
	if n := len(h.api.Calls("getMe")); n != 2 {
		t.Errorf("%d getMe calls, want 2 (Start and the late one)", n)
	}
	if h.bot.Username() != telegramfake.BotUsername {
		t.Errorf("username %q after the late getMe", h.bot.Username())
	}
}
