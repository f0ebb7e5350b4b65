package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/internal/telegramfake"
	"github.com/scar-dev/scar/store"
)

// TestCheckReportsRefusedAlertChats: `scar check` names the alert chats Telegram
// refused, as the notifier recorded them in the state store, and changes nothing.
func TestCheckReportsRefusedAlertChats(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	in, err := db.OpenIncident(ctx, store.Incident{Project: "po", Kind: store.KindDied, EventAt: now, OpenedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	err = db.RecordAlerts(ctx,
		store.AlertMessage{IncidentID: in.ID, ChatID: -2002, SentVersion: 1, SentAt: now, Outcome: store.AlertRefused},
		store.AlertMessage{IncidentID: in.ID, ChatID: -3003, MessageID: 7, SentVersion: 1, SentAt: now, Outcome: store.AlertSent})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	api := telegramfake.New(t)
	var out bytes.Buffer
	run(ctx, []string{"check"}, []string{"SCAR_PROJECTS_FILE=" + projectsFile(t, ""), "SCAR_STATE_DIR=" + dir,
		"DOCKER_HOST=unix:///nonexistent/docker.sock", "SCAR_TELEGRAM_TOKEN=" + telegramfake.Token,
		"SCAR_TELEGRAM_API_URL=" + api.URL, "SCAR_TELEGRAM_WEBHOOK_SECRET=" + webhookSecret,
		"SCAR_TELEGRAM_ALLOWED_USERS=42", "SCAR_ALERT_CHATS=-2002,-3003"}, &out, &out)
	for _, want := range []string{"alerts go to chat(s) [-2002,-3003]", "warn  telegram alerts", "Telegram refused alerts in chat -2002"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "chat -3003 at") {
		t.Errorf("check reports a chat that took its alert:\n%s", out.String())
	}
}

// TestAlertConfig: SCAR_ALERT_CHATS takes private and group chat ids, refuses 0;
// SCAR_ALERT_MAX_AGE defaults to an hour and must be positive.
func TestAlertConfig(t *testing.T) {
	cfg, err := loadConfig([]string{"SCAR_ALERT_CHATS=42,-1001234567890"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.AlertChats) != 2 || cfg.AlertChats[1] != -1001234567890 || cfg.AlertMaxAge != time.Hour {
		t.Errorf("alert chats %v, max age %s", cfg.AlertChats, cfg.AlertMaxAge)
	}
	for _, env := range []string{"SCAR_ALERT_CHATS=0", "SCAR_ALERT_MAX_AGE=-1m", "SCAR_ALERT_CHATS=abc"} {
		_, err := loadConfig([]string{env})
		name, _, _ := strings.Cut(env, "=")
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v, want one naming %s", env, err, name)
		}
	}
}

// TestPokeAlertsOnIncidents: every incident on the feed pokes the notifier,
// container events do not, and the loop ends with its context.
func TestPokeAlertsOnIncidents(t *testing.T) {
	events := make(chan dockerops.WatchEvent, 4)
	subscribe := func(project string) (<-chan dockerops.WatchEvent, func()) { return events, func() {} }
	pokes := make(chan struct{}, 4)
	stop := startAlertPokes(context.Background(), subscribe, func() { pokes <- struct{}{} })
	done := make(chan struct{})
	events <- dockerops.WatchEvent{Action: "start"}
	events <- dockerops.WatchEvent{Incident: &store.Incident{ID: 1}}
	select {
	case <-pokes:
	case <-time.After(10 * time.Second):
		t.Fatal("no poke for an incident")
	}
	go func() {
		stop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the loop did not end with its context")
	}
	if len(pokes) != 0 {
		t.Errorf("%d pokes for a container event, want 0", len(pokes))
	}
}

// TestServeSendsAlertsWrittenBeforeStart: an incident in the state store that no
// alert chat was sent (scar stopped, or killed, after the watcher wrote it) is sent
// to SCAR_ALERT_CHATS when scar serves again, once.
func TestServeSendsAlertsWrittenBeforeStart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := db.OpenIncident(ctx, store.Incident{Project: "demo", Container: "demo-web-1", Kind: store.KindDied,
		EventAt: now, OpenedAt: now, Summary: "exited with code 3"}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	api := telegramfake.New(t)
	startServe(t, "SCAR_PROJECTS_FILE="+projectsFile(t, ""), "SCAR_STATE_DIR="+dir, "DOCKER_HOST=unix:///nonexistent/docker.sock",
		"SCAR_API_TOKENS="+e2eToken, "SCAR_TELEGRAM_TOKEN="+telegramfake.Token, "SCAR_TELEGRAM_API_URL="+api.URL,
		"SCAR_TELEGRAM_WEBHOOK_SECRET="+webhookSecret, "SCAR_ALERT_CHATS=-2002")
	api.WaitFor(t, 30*time.Second, "the alert", func([]telegramfake.Call) bool {
		for _, c := range api.Sent() {
			if c.Int64("chat_id") == -2002 && strings.Contains(c.String("text"), "demo-web-1 — died: exited with code 3") {
				return true
			}
		}
		return false
	})
	api.WaitCalls(t, "setMyCommands", 1)
	if n := len(api.Calls("sendMessage")); n != 1 {
		t.Errorf("%d sendMessage calls, want the one alert", n)
	}
}

// Alert chats without a Telegram token are a setup mistake that would drop every
// alert without a word: `scar check` warns of it.
func TestCheckWarnsOfAlertChatsWithoutTelegram(t *testing.T) {
	cfg, err := loadConfig([]string{"SCAR_ALERT_CHATS=-1001234567890"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if failed := checkTelegram(context.Background(), cfg, &out); failed != 0 {
		t.Errorf("%d checks failed, want a warning only", failed)
	}
	if want := "warn  telegram alerts SCAR_ALERT_CHATS is set but SCAR_TELEGRAM_TOKEN is not"; !strings.Contains(out.String(), want) {
		t.Errorf("check output lacks %q:\n%s", want, out.String())
	}
}
