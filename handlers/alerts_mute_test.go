package handlers

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/store"
)

// A mute silences new alerts, it does not freeze the ones already shown: an alert
// sent before the mute whose incident recovers during it is still edited to say so
// (an edit makes no sound), so that the chat does not show it failing for ever.
// A new incident of the muted project is not sent.
func TestAlertRecoveredWhileMutedIsStillEdited(t *testing.T) {
	h := newAlertHarness(t)
	at := h.clock.Now()
	in := h.openDied(defaultProject, "backend", at)
	first := h.waitAlertRow(in.ID, alertChat, store.AlertSent)

	h.send(admin.ID, admin, "/docker_mute 2h")
	h.waitSent(admin.ID, "Alerts of project-orchestrator muted for 2h")
	in.State, in.ResolvedAt, in.UpdatedAt = store.IncidentResolved, at.Add(time.Minute), at.Add(time.Minute)
	in, err := h.db.UpdateIncident(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	h.bot.PokeAlerts()
	row := h.waitAlertRow(in.ID, alertChat, store.AlertSent)
	if row.MessageID != first.MessageID {
		t.Errorf("recovery shown in message %d, want the alert's %d", row.MessageID, first.MessageID)
	}
	texts, _ := h.alertTexts(alertChat)
	if !strings.Contains(texts[first.MessageID], "recovered after 1m") {
		t.Errorf("message now %q, want it edited to say it recovered", texts[first.MessageID])
	}

	muted := h.openDied(defaultProject, "worker", h.clock.Now())
	h.waitAlertRow(muted.ID, alertChat, store.AlertMuted)
	if n := h.sendsTo(alertChat); n != 1 {
		t.Errorf("%d sendMessage calls to the alert chat, want 1 (the alert before the mute)", n)
	}
}
