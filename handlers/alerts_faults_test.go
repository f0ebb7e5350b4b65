package handlers

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/internal/telegramfake"
	"github.com/scar-dev/scar/store"
)

// A Bot API that is down during a burst loses nothing: every alert is delivered
// once it is back, grouped, none twice.
func TestAlertsWaitWhileBotAPIIsDown(t *testing.T) {
	api := telegramfake.New(t)
	proxy := newSwitchableProxy(t, api.URL)
	h := newAlertHarness(t, func(c *Config, d *Deps) { c.APIURL = proxy.URL() })
	h.api = api
	h.bot.send.backoff = func(int) time.Duration { return 20 * time.Millisecond }

	at := time.Now()
	first := h.openDied(defaultProject, containerName(0), at)
	h.waitAlertRow(first.ID, alertChat, store.AlertSent)

	proxy.down()
	var ins []store.Incident
	for i := 1; i < 20; i++ {
		ins = append(ins, h.openDied(defaultProject, containerName(i), at.Add(time.Duration(i)*time.Millisecond)))
	}
	// The notifier tried while the Bot API was away, and failed.
	deadline := time.Now().Add(10 * time.Second)
	for h.requests("editMessageText", requestTransient)+h.requests("sendMessage", requestTransient) < 5 {
		if time.Now().After(deadline) {
			t.Fatal("the notifier did not try while the Bot API was down")
		}
		time.Sleep(10 * time.Millisecond)
	}
	proxy.up()
	for _, in := range ins {
		h.waitAlertRow(in.ID, alertChat, store.AlertSent)
	}
	texts, sends := h.alertTexts(alertChat)
	if sends > 2 {
		t.Errorf("%d sendMessage calls, want at most 2", sends)
	}
	all := strings.Join(mapValues(texts), "\n")
	for i := range 20 {
		if n := strings.Count(all, " · "+containerName(i)+" — died"); n != 1 {
			t.Errorf("%s shown %d times, want once", containerName(i), n)
		}
	}
}

// A new notifier on the same store (scar restarted) sends what was pending and
// nothing that was sent before.
func TestAlertsAcrossARestart(t *testing.T) {
	api := telegramfake.New(t)
	proxy := newSwitchableProxy(t, api.URL)
	h := newAlertHarness(t, func(c *Config, d *Deps) { c.APIURL = proxy.URL() })
	h.api = api
	h.bot.send.backoff = func(int) time.Duration { return 20 * time.Millisecond }

	sent := h.openDied(defaultProject, "backend", time.Now())
	h.waitAlertRow(sent.ID, alertChat, store.AlertSent)

	proxy.down()
	pending := h.openDied(defaultProject, "worker", time.Now())
	deadline := time.Now().Add(10 * time.Second)
	for h.requests("editMessageText", requestTransient)+h.requests("sendMessage", requestTransient) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the notifier did not try while the Bot API was down")
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.stop()
	proxy.up()
	h.start()
	h.bot.send.backoff = func(int) time.Duration { return 20 * time.Millisecond }
	h.waitAlertRow(pending.ID, alertChat, store.AlertSent)

	texts, sends := h.alertTexts(alertChat)
	if sends != 1 {
		t.Errorf("%d sendMessage calls, want 1 (the pending alert is folded into the young message)", sends)
	}
	all := strings.Join(mapValues(texts), "\n")
	for _, c := range []string{"backend", "worker"} {
		if n := strings.Count(all, " · "+c+" — died"); n != 1 {
			t.Errorf("%s shown %d times, want once:\n%s", c, n, all)
		}
	}
}

// A chat Telegram refuses is tried once, recorded as refused, and not tried again,
// also after a restart — until a message comes from it.
func TestAlertRefusedChatIsNotRetried(t *testing.T) {
	h := newAlertHarness(t)
	h.api.Fail("sendMessage", telegramfake.Failure{Status: 403, Description: "Forbidden: bot was kicked from the supergroup chat", ChatID: alertChat})
	a := h.openDied(defaultProject, "backend", time.Now())
	h.waitAlertRow(a.ID, alertChat, store.AlertRefused)
	b := h.openDied(defaultProject, "worker", time.Now())
	h.waitAlertRow(b.ID, alertChat, store.AlertRefused)
	h.restart()
	c := h.openDied(defaultProject, "cache", time.Now())
	h.waitAlertRow(c.ID, alertChat, store.AlertRefused)
	if n := h.sendsTo(alertChat); n != 1 {
		t.Errorf("%d sendMessage calls to the refusing chat, want 1", n)
	}
	// A message from the chat shows the bot is back there: alerts go again.
	h.send(alertChat, admin, "/help@"+telegramfake.BotUsername)
	h.waitSent(alertChat, "/docker_mute")
	d := h.openDied(defaultProject, "queue", time.Now())
	h.waitAlertRow(d.ID, alertChat, store.AlertSent)
}

func mapValues(m map[int]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// A message Telegram will not edit any more (deleted by a user) gives its changed
// incident back: it is shown in a new message, not lost.
func TestAlertMessageGoneIsSentAgain(t *testing.T) {
	h := newAlertHarness(t)
	in := h.openDied(defaultProject, "backend", time.Now())
	first := h.waitAlertRow(in.ID, alertChat, store.AlertSent)
	h.api.Fail("editMessageText", telegramfake.Failure{Status: 400, Description: "Bad Request: message to edit not found"})
	in.State, in.ResolvedAt = store.IncidentResolved, in.EventAt.Add(time.Minute)
	in, err := h.db.UpdateIncident(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	h.bot.PokeAlerts()
	row := h.waitAlertRow(in.ID, alertChat, store.AlertSent)
	if row.MessageID == first.MessageID {
		t.Fatalf("still in message %d, which is gone", row.MessageID)
	}
	texts, sends := h.alertTexts(alertChat)
	if sends != 2 || !strings.Contains(texts[row.MessageID], "recovered after 1m") {
		t.Errorf("%d sends; new message %q", sends, texts[row.MessageID])
	}
}

// The figure, with the sender's own retry pauses: the Bot API unreachable
// for 30 seconds during a burst; every alert arrives after, grouped, none twice.
func TestAlertsSurviveA30sBotAPIOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 30 seconds")
	}
	api := telegramfake.New(t)
	proxy := newSwitchableProxy(t, api.URL)
	h := newAlertHarness(t, func(c *Config, d *Deps) { c.APIURL = proxy.URL() })
	h.api = api
	at := time.Now()
	first := h.openDied(defaultProject, containerName(0), at)
	h.waitAlertRow(first.ID, alertChat, store.AlertSent)

	proxy.down()
	down := time.Now()
	var ins []store.Incident
	for i := 1; i < 20; i++ {
		ins = append(ins, h.openDied(defaultProject, containerName(i), at.Add(time.Duration(i)*time.Millisecond)))
	}
	// The outage lasts 30 seconds of the notifier failing: a condition polled, the
	// failures counted, not a sleep standing in for one.
	for time.Since(down) < 30*time.Second || h.requests("editMessageText", requestTransient)+h.requests("sendMessage", requestTransient) == 0 {
		time.Sleep(100 * time.Millisecond)
	}
	proxy.up()
	back := time.Now()
	for _, in := range ins {
		h.waitAlertRow(in.ID, alertChat, store.AlertSent)
	}
	t.Logf("after a %s outage, all delivered %s after the Bot API was back", back.Sub(down).Round(time.Second), time.Since(back).Round(time.Millisecond))
	texts, sends := h.alertTexts(alertChat)
	if sends > 2 {
		t.Errorf("%d sendMessage calls, want at most 2", sends)
	}
	all := strings.Join(mapValues(texts), "\n")
	for i := range 20 {
		if n := strings.Count(all, " · "+containerName(i)+" — died"); n != 1 {
			t.Errorf("%s shown %d times, want once", containerName(i), n)
		}
	}
}

// A message the Bot API refuses as such (not the chat) is recorded as failed for
// that alert, not retried for ever; the chat is not taken for refused, also after a
// restart, and gets the next alerts.
func TestAlertRefusedMessageIsNotRetried(t *testing.T) {
	h := newAlertHarness(t)
	h.api.Fail("sendMessage", telegramfake.Failure{Status: 400, Description: "Bad Request: can't parse entities", ChatID: alertChat})
	bad := h.openDied(defaultProject, "backend", time.Now())
	h.waitAlertRow(bad.ID, alertChat, store.AlertFailed)
	h.restart()
	good := h.openDied(defaultProject, "worker", time.Now())
	h.waitAlertRow(good.ID, alertChat, store.AlertSent)
	if n := h.sendsTo(alertChat); n != 2 {
		t.Errorf("%d sendMessage calls, want 2 (one failed, one sent)", n)
	}
}

// A chat that waits out a 429 does not hold another chat's alert back.
func TestAlertChatsDoNotWaitForEachOther(t *testing.T) {
	const other = int64(-999) // after alertChat in id order
	h := newAlertHarness(t, func(c *Config, d *Deps) { c.AlertChats = []int64{alertChat, other} })
	h.api.Fail("sendMessage", telegramfake.Failure{Status: 429, RetryAfter: 3, Description: "Too Many Requests: retry after 3", ChatID: alertChat})
	start := time.Now()
	in := h.openDied(defaultProject, "backend", start)
	h.waitAlertRow(in.ID, other, store.AlertSent)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the other chat got its alert after %s, behind the rate-limited one", took)
	}
	h.waitAlertRow(in.ID, alertChat, store.AlertSent)
	if took := time.Since(start); took < 3*time.Second {
		t.Errorf("the rate-limited chat got its alert after %s, before its retry_after", took)
	}
}

// A fold claimed in the log when scar stopped before the edit (the crash the order of
// writes allows) is shown by editing that message when scar is back: no new message,
// nothing lost.
func TestAlertFoldClaimedBeforeACrashIsShown(t *testing.T) {
	h := newAlertHarness(t)
	a := h.openDied(defaultProject, "backend", time.Now())
	shown := h.waitAlertRow(a.ID, alertChat, store.AlertSent)
	h.stop()

	db, err := store.Open(context.Background(), h.dbDir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := db.OpenIncident(context.Background(), store.Incident{Project: defaultProject, Container: "worker", Kind: store.KindDied,
		EventAt: time.Now(), OpenedAt: time.Now(), Summary: "exited with code 3"})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.RecordAlerts(context.Background(), store.AlertMessage{IncidentID: b.ID, ChatID: alertChat, MessageID: shown.MessageID, SentAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	h.start()
	row := h.waitAlertRow(b.ID, alertChat, store.AlertSent)
	texts, sends := h.alertTexts(alertChat)
	if row.MessageID != shown.MessageID || sends != 1 {
		t.Errorf("shown in message %d with %d sendMessage calls, want message %d and 1", row.MessageID, sends, shown.MessageID)
	}
	for _, c := range []string{"backend", "worker"} {
		if !strings.Contains(texts[shown.MessageID], " · "+c+" — died") {
			t.Errorf("message lacks %s: %q", c, texts[shown.MessageID])
		}
	}
}
