package handlers

import (
	"context"
	"fmt"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/scar-dev/scar/internal/telegramfake"
	"github.com/scar-dev/scar/store"
)

// alertChat is the group in SCAR_ALERT_CHATS of the alert tests; it is not in
// SCAR_TELEGRAM_ALLOWED_CHATS.
const alertChat = int64(-2002)

// defaultProject is the seed's default project.
const defaultProject = "project-orchestrator"

// newAlertHarness is a harness whose bot delivers alerts to alertChat from its store.
func newAlertHarness(t *testing.T, tweak ...func(*Config, *Deps)) *harness {
	t.Helper()
	return newHarness(t, append([]func(*Config, *Deps){func(c *Config, d *Deps) {
		c.AlertChats = []int64{alertChat}
		d.Alerts = alertsFromStore
	}}, tweak...)...)
}

// openDied records a died incident of container in project at at, as the watcher
// would, and pokes the notifier.
func (h *harness) openDied(project, container string, at time.Time) store.Incident {
	h.t.Helper()
	in, err := h.db.OpenIncident(context.Background(), store.Incident{
		Project: project, Container: container, ContainerID: "id-" + container, Service: container,
		Kind: store.KindDied, EventAt: at, OpenedAt: at,
		Summary: "exited with code 3", Detail: "panic: <nil> & gone\nexit status 3",
	})
	if err != nil {
		h.t.Fatal(err)
	}
	h.bot.PokeAlerts()
	return in
}

// alertRow returns the notification log row of an incident in a chat.
func (h *harness) alertRow(id, chat int64) (store.AlertMessage, bool) {
	h.t.Helper()
	rows, err := h.db.AlertMessagesOf(context.Background(), []int64{id})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, r := range rows {
		if r.ChatID == chat {
			return r, true
		}
	}
	return store.AlertMessage{}, false
}

// waitAlertRow waits until an incident's row in chat has outcome at the incident's
// current version.
func (h *harness) waitAlertRow(id, chat int64, outcome string) store.AlertMessage {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		in, err := h.db.Incident(context.Background(), id)
		if err != nil {
			h.t.Fatal(err)
		}
		r, ok := h.alertRow(id, chat)
		if ok && r.Outcome == outcome && r.SentVersion == in.Version {
			return r
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("incident %d in chat %d: row %+v (found %v), want outcome %s at version %d; calls:\n%s",
				id, chat, r, ok, outcome, in.Version, telegramfake.Describe(h.api.Calls()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alertTexts returns what each message in chat shows now (its last send or edit),
// by message id, and the number of sendMessage calls to chat.
func (h *harness) alertTexts(chat int64) (map[int]string, int) {
	texts := make(map[int]string)
	sends := 0
	for _, c := range h.api.Sent() {
		if c.Int64("chat_id") != chat {
			continue
		}
		switch c.Method {
		case "sendMessage":
			sends++
			texts[c.MessageID] = rendered(h.t, c)
		case "editMessageText":
			texts[int(c.Int64("message_id"))] = rendered(h.t, c)
		}
	}
	return texts, sends
}

// sendsTo counts the sendMessage calls to chat, answered or not.
func (h *harness) sendsTo(chat int64) int {
	n := 0
	for _, c := range h.api.Calls("sendMessage") {
		if c.Int64("chat_id") == chat {
			n++
		}
	}
	return n
}

// alertsTotal returns scar_alerts_total for kind and outcome.
func (h *harness) alertsTotal(kind, outcome string) float64 {
	return counter(h.t, h.metrics.AlertsTotal.WithLabelValues(kind, outcome))
}

// delayCount returns the number of scar_alert_delay_seconds observations.
func (h *harness) delayCount() uint64 {
	h.t.Helper()
	var m dto.Metric
	if err := h.metrics.AlertDelay.(interface{ Write(*dto.Metric) error }).Write(&m); err != nil {
		h.t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// containerName is the name of the i-th container of a burst.
func containerName(i int) string { return fmt.Sprintf("web-%02d", i) }
