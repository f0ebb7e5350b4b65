package handlers

import (
	"context"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/internal/telegramfake"
	"github.com/scar-dev/scar/store"
)

// One incident is one sendMessage to the alert chat, at once, with its reason, its
// log tail and its buttons; the delay from the event is observed.
func TestAlertOneIncidentOneMessage(t *testing.T) {
	h := newAlertHarness(t)
	start := time.Now()
	in := h.openDied(defaultProject, "backend", start)
	row := h.waitAlertRow(in.ID, alertChat, store.AlertSent)
	t.Logf("incident written → sendMessage accepted and logged in %s", time.Since(start))

	texts, sends := h.alertTexts(alertChat)
	if sends != 1 {
		t.Fatalf("%d sendMessage calls to the alert chat, want 1", sends)
	}
	text := texts[row.MessageID]
	for _, want := range []string{
		"🔴 project-orchestrator · backend — died: exited with code 3",
		"panic: <nil> & gone\nexit status 3",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("alert %q lacks %q", text, want)
		}
	}
	send := h.api.Calls("sendMessage")[0]
	if !strings.Contains(send.String("text"), "<pre>panic: &lt;nil&gt; &amp; gone") {
		t.Errorf("log tail not escaped in <pre>: %s", send.String("text"))
	}
	id := strconv.FormatInt(in.ID, 10)
	if got, want := buttons(t, send), []string{"al:" + id, "ar:" + id, "am:" + id}; !slices.Equal(got, want) {
		t.Errorf("buttons %v, want %v", got, want)
	}
	if n := h.delayCount(); n != 1 {
		t.Errorf("scar_alert_delay_seconds observed %d times, want 1", n)
	}
	if n := h.alertsTotal(store.KindDied, store.AlertSent); n != 1 {
		t.Errorf("scar_alerts_total{died,sent} = %v, want 1", n)
	}
	// A sweep later sends nothing more.
	h.bot.PokeAlerts()
	h.marker(admin.ID)
	if _, sends := h.alertTexts(alertChat); sends != 1 {
		t.Errorf("%d sendMessage calls after another sweep, want 1", sends)
	}
}

// An incident that recovers edits the message that shows it; nothing new is sent.
func TestAlertRecoveredEditsTheSameMessage(t *testing.T) {
	h := newAlertHarness(t)
	at := time.Now()
	in := h.openDied(defaultProject, "backend", at)
	first := h.waitAlertRow(in.ID, alertChat, store.AlertSent)

	in.State, in.ResolvedAt, in.UpdatedAt = store.IncidentResolved, at.Add(2*time.Minute+13*time.Second), at.Add(2*time.Minute+13*time.Second)
	in, err := h.db.UpdateIncident(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	h.bot.PokeAlerts()
	row := h.waitAlertRow(in.ID, alertChat, store.AlertSent)
	if row.MessageID != first.MessageID {
		t.Fatalf("recovered shown in message %d, want the alert's %d", row.MessageID, first.MessageID)
	}
	texts, sends := h.alertTexts(alertChat)
	if sends != 1 {
		t.Errorf("%d sendMessage calls, want 1 (the recovery is an edit)", sends)
	}
	if want := "✅ project-orchestrator · backend — died: exited with code 3 · recovered after 2m 13s"; !strings.Contains(texts[first.MessageID], want) {
		t.Errorf("message now %q, want %q", texts[first.MessageID], want)
	}
	if n := h.delayCount(); n != 1 {
		t.Errorf("delay observed %d times, want 1 (an edit is not a new alert)", n)
	}
}

// Twenty containers dying together make at most two sendMessage calls; every
// container is named in what the chat shows. The incidents come one by one, each
// after the one before was delivered — the worst case for grouping, which must then
// fold by editing.
func TestAlertBurstIsFolded(t *testing.T) {
	h := newAlertHarness(t)
	at := time.Now()
	for i := range 20 {
		in := h.openDied(defaultProject, containerName(i), at.Add(time.Duration(i)*time.Millisecond))
		h.waitAlertRow(in.ID, alertChat, store.AlertSent)
	}
	texts, sends := h.alertTexts(alertChat)
	if sends > 2 {
		t.Errorf("%d sendMessage calls for a burst of 20, want at most 2", sends)
	}
	all := ""
	for _, text := range texts {
		all += text + "\n"
	}
	for i := range 20 {
		if strings.Count(all, " · "+containerName(i)+" — died") != 1 {
			t.Errorf("%s named %d times, want once; messages:\n%s", containerName(i), strings.Count(all, containerName(i)), all)
		}
	}
	t.Logf("burst of 20: %d sendMessage, %d editMessageText", sends, len(h.api.Calls("editMessageText")))
}

// Alerts older than the max age when they can be sent go in one summary message;
// more than fit are counted in its last line.
func TestAlertsTooOldAreSummarised(t *testing.T) {
	h := newAlertHarness(t, func(c *Config, d *Deps) { c.AlertMaxAge = time.Hour })
	old := time.Now().Add(-2 * time.Hour)
	var ins []store.Incident
	for i := range 3 {
		ins = append(ins, h.openDied(defaultProject, containerName(i), old.Add(time.Duration(i)*time.Second)))
	}
	// Many more, all in one sweep: still one summary message.
	for i := range 100 {
		in, err := h.db.OpenIncident(context.Background(), store.Incident{Project: defaultProject, Container: "many-" + strconv.Itoa(i),
			Kind: store.KindOOM, EventAt: old.Add(time.Minute), OpenedAt: old.Add(time.Minute), Summary: "OOM killed (memory limit 28 MiB)"})
		if err != nil {
			t.Fatal(err)
		}
		ins = append(ins, in)
	}
	h.bot.PokeAlerts()
	fresh := h.openDied(defaultProject, "fresh", time.Now())
	var summaryID int
	for _, in := range ins {
		id := h.waitAlertRow(in.ID, alertChat, store.AlertSummarised).MessageID
		if summaryID != 0 && id != summaryID {
			t.Fatalf("summarised in messages %d and %d, want one", summaryID, id)
		}
		summaryID = id
	}
	freshRow := h.waitAlertRow(fresh.ID, alertChat, store.AlertSent)
	if freshRow.MessageID == summaryID {
		t.Error("the fresh alert is in the summary")
	}
	texts, _ := h.alertTexts(alertChat)
	summary := texts[summaryID]
	if !strings.Contains(summary, "103 alerts older than 1h that could not be delivered in time") || !strings.Contains(summary, "more: /docker_alerts") {
		t.Errorf("summary %q", summary)
	}
	if n := telegramfake.Length(summary); n > 4096 {
		t.Errorf("summary of %d characters", n)
	}
	if _, sends := h.alertTexts(alertChat); sends != 2 {
		t.Errorf("%d sendMessage calls, want 2: the summary and the fresh alert", sends)
	}
	for i := range 3 {
		if !strings.Contains(summary, containerName(i)) {
			t.Errorf("summary lacks %s: %q", containerName(i), summary)
		}
	}
	if n := h.alertsTotal(store.KindDied, store.AlertSummarised); n != 3 {
		t.Errorf("scar_alerts_total{died,summarised} = %v, want 3", n)
	}
}

// Alerts too many for one message start a new one before Telegram's 4096 characters;
// each is shown once.
func TestAlertMessagesKeepUnderTheLimit(t *testing.T) {
	h := newAlertHarness(t)
	ctx := context.Background()
	var ins []store.Incident
	for i := range 40 {
		in, err := h.db.OpenIncident(ctx, store.Incident{
			Project: defaultProject, Container: containerName(i) + strings.Repeat("x", 100), Kind: store.KindUnhealthy,
			EventAt: time.Now(), OpenedAt: time.Now(), Summary: "health check failing: " + strings.Repeat("<slow> ", 40),
		})
		if err != nil {
			t.Fatal(err)
		}
		ins = append(ins, in)
	}
	h.bot.PokeAlerts()
	for _, in := range ins {
		h.waitAlertRow(in.ID, alertChat, store.AlertSent)
	}
	texts, sends := h.alertTexts(alertChat)
	if sends < 2 {
		t.Errorf("%d sendMessage calls, want the alerts split", sends)
	}
	all := ""
	for id, text := range texts {
		if n := telegramfake.Length(text); n > 4096 {
			t.Errorf("message %d has %d characters", id, n)
		}
		all += text + "\n"
	}
	for i := range 40 {
		if n := strings.Count(all, containerName(i)+"x"); n != 1 {
			t.Errorf("%s shown %d times, want once", containerName(i), n)
		}
	}
}

// Routing: a project's alerts go to SCAR_ALERT_CHATS and its alert_chats; a project
// with alerts off sends none; the host's go to SCAR_ALERT_CHATS only. An alert chat
// is a chat the bot answers in.
func TestAlertRouting(t *testing.T) {
	const shopChat = int64(-3003)
	h := newAlertHarness(t, func(c *Config, d *Deps) {
		d.Projects = writeProjects(t, `{
  "shop": {"workspace": "/ws/shop", "production": "/srv/shop", "containers": ["web"], "alert_chats": [-3003, 42], "default": true},
  "quiet": {"workspace": "/ws/quiet", "production": "/srv/quiet", "containers": ["q"], "alerts": false, "alert_chats": [-3003]}
}`)
	})
	ctx := context.Background()
	shop := h.openDied("shop", "web", time.Now())
	h.waitAlertRow(shop.ID, alertChat, store.AlertSent)
	h.waitAlertRow(shop.ID, shopChat, store.AlertSent)
	h.waitAlertRow(shop.ID, admin.ID, store.AlertSent)

	quiet := h.openDied("quiet", "q", time.Now())
	host, err := h.db.OpenIncident(ctx, store.Incident{Kind: store.KindDockerUnreachable, EventAt: time.Now(), OpenedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	h.bot.PokeAlerts()
	h.waitAlertRow(host.ID, alertChat, store.AlertSent)
	deadline := time.Now().Add(10 * time.Second)
	for {
		pending, err := h.db.PendingAlerts(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still pending: %+v", pending)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, ok := h.alertRow(host.ID, shopChat); ok {
		t.Error("the host's alert went to a project's chat")
	}
	if rows, _ := h.db.AlertMessagesOf(ctx, []int64{quiet.ID}); len(rows) != 0 {
		t.Errorf("a project with alerts off was alerted: %+v", rows)
	}
	// The project's alert group is a chat the bot answers in.
	h.send(shopChat, admin, "/help@"+telegramfake.BotUsername)
	h.waitSent(shopChat, "/docker_mute")
}

// The notifier's goroutine ends with the bot.
func TestAlertNotifierStopsWithTheBot(t *testing.T) {
	h := newAlertHarness(t)
	if notifierRunning() == 0 {
		t.Fatal("no notifier running")
	}
	h.stop()
	if n := notifierRunning(); n != 0 {
		t.Errorf("%d notifier goroutines left after Shutdown", n)
	}
}

// notifierRunning counts the goroutines in the notifier's loop.
func notifierRunning() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "handlers.(*notifier).run(")
}
