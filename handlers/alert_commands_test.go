package handlers

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/store"
)

// /docker_mute silences a project's alerts for the duration (test clock): its
// incidents are recorded as muted and not sent; /docker_status shows the mute; after
// the duration, or /docker_unmute, they are sent again.
func TestMuteSilencesForTheDuration(t *testing.T) {
	h := newAlertHarness(t)
	h.send(admin.ID, admin, "/docker_mute 2h")
	h.waitSent(admin.ID, "Alerts of project-orchestrator muted for 2h")
	h.send(admin.ID, admin, "/docker_status")
	h.waitSent(admin.ID, "🔕 Alerts muted until")

	muted := h.openDied(defaultProject, "backend", h.clock.Now())
	h.waitAlertRow(muted.ID, alertChat, store.AlertMuted)
	if n := h.sendsTo(alertChat); n != 0 {
		t.Fatalf("%d sendMessage calls to the alert chat while muted, want 0", n)
	}
	// Another project is not muted.
	other := h.openDied("secret-app", "secret-web", h.clock.Now())
	h.waitAlertRow(other.ID, alertChat, store.AlertSent)

	h.clock.Advance(2*time.Hour + time.Second)
	after := h.openDied(defaultProject, "worker", h.clock.Now())
	h.waitAlertRow(after.ID, alertChat, store.AlertSent)
	if n := h.alertsTotal(store.KindDied, store.AlertMuted); n != 1 {
		t.Errorf("scar_alerts_total{died,muted} = %v, want 1", n)
	}

	h.send(admin.ID, admin, "/docker_mute")
	h.waitSent(admin.ID, "muted for 1h")
	h.send(admin.ID, admin, "/docker_unmute")
	h.waitSent(admin.ID, "Alerts of project-orchestrator are sent again")
	again := h.openDied(defaultProject, "cache", h.clock.Now())
	h.waitAlertRow(again.ID, alertChat, store.AlertSent)
	h.send(admin.ID, admin, "/docker_unmute")
	h.waitSent(admin.ID, "was not muted")
}

// Bad mute input gets a clear answer and mutes nothing; read-only users are refused.
func TestMuteRefusesBadInput(t *testing.T) {
	h := newAlertHarness(t)
	for _, tc := range []struct{ text, want string }{
		{"/docker_mute 5x", "is not a duration"},
		{"/docker_mute 10s", "at least a minute"},
		{"/docker_mute 400d", "at most 30d"},
		{"/docker_mute nosuch", "Unknown project nosuch"},
		{"/docker_mute 1h 2h", "usage: /docker_mute"},
	} {
		h.send(admin.ID, admin, tc.text)
		h.waitSent(admin.ID, tc.want)
	}
	h.send(reader.ID, reader, "/docker_mute")
	h.waitSent(reader.ID, "Your access is read-only: /docker_mute needs full access")
	mutes, err := h.db.Mutes(context.Background(), h.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(mutes) != 0 {
		t.Errorf("mutes %v after refused commands, want none", mutes)
	}
}

// The buttons under an alert, pressed in the alert chat (a group not otherwise
// allowed): 📜 Logs answers with the container's lines up to the event, for a
// read-only user too; 🔄 Restart asks for confirmation and refuses a read-only user;
// 🔕 Mute 1h silences the project for an hour.
func TestAlertButtons(t *testing.T) {
	h := newAlertHarness(t)
	var mu sync.Mutex
	var asked []dockerops.LogsRequest
	h.ops.LogsFn = func(ctx context.Context, project string, req dockerops.LogsRequest) (*dockerops.LogsResult, error) {
		mu.Lock()
		asked = append(asked, req)
		mu.Unlock()
		return &dockerops.LogsResult{Project: project, Container: req.Container, Lines: numberedLines(3)}, nil
	}
	at := time.Now().Add(-time.Minute)
	in := h.openDied(defaultProject, "po-redis-1", at)
	row := h.waitAlertRow(in.ID, alertChat, store.AlertSent)
	id := strconv.FormatInt(in.ID, 10)

	press := h.press(alertChat, reader, row.MessageID, "al:"+id)
	if got := h.answerTo(press); !strings.Contains(got, "Logs of po-redis-1") {
		t.Errorf("logs answer %q", got)
	}
	h.waitSent(alertChat, "line 3")
	mu.Lock()
	if len(asked) != 1 || asked[0].Container != "po-redis-1" || !asked[0].Until.Equal(at) {
		t.Errorf("logs asked %+v, want po-redis-1 until %s", asked, at)
	}
	mu.Unlock()

	press = h.press(alertChat, reader, row.MessageID, "ar:"+id)
	if got := h.answerTo(press); !strings.Contains(got, "read-only") {
		t.Errorf("restart by a read-only user answered %q", got)
	}
	press = h.press(alertChat, admin, row.MessageID, "ar:"+id)
	h.answerTo(press)
	ask := h.waitSent(alertChat, "Restart Production Containers")
	if b := buttons(t, ask); len(b) != 2 || !strings.HasPrefix(b[0], "c:") {
		t.Errorf("restart question buttons %v, want Confirm and Cancel", b)
	}

	press = h.press(alertChat, reader, row.MessageID, "am:"+id)
	if got := h.answerTo(press); !strings.Contains(got, "read-only") {
		t.Errorf("mute by a read-only user answered %q", got)
	}
	press = h.press(alertChat, admin, row.MessageID, "am:"+id)
	h.answerTo(press)
	h.waitSent(alertChat, "muted for 1h")
	next := h.openDied(defaultProject, "backend", h.clock.Now())
	h.waitAlertRow(next.ID, alertChat, store.AlertMuted)
	h.clock.Advance(time.Hour + time.Second)
	later := h.openDied(defaultProject, "backend", h.clock.Now())
	h.waitAlertRow(later.ID, alertChat, store.AlertSent)

	// A stranger's press changes nothing.
	press = h.press(alertChat, stranger, row.MessageID, "am:"+id)
	if got := h.answerTo(press); !strings.Contains(got, "not allowed") {
		t.Errorf("stranger's press answered %q", got)
	}
}

// /docker_alerts lists recent incidents, open ones first.
func TestDockerAlertsListsOpenFirst(t *testing.T) {
	h := newAlertHarness(t)
	ctx := context.Background()
	at := time.Now().Add(-10 * time.Minute)
	gone := h.openDied(defaultProject, "old-web", at)
	gone.State, gone.ResolvedAt, gone.UpdatedAt = store.IncidentResolved, at.Add(time.Minute), at.Add(time.Minute)
	if _, err := h.db.UpdateIncident(ctx, gone); err != nil {
		t.Fatal(err)
	}
	h.openDied(defaultProject, "new-web", at.Add(-time.Hour)) // opened earlier, still open
	h.send(admin.ID, admin, "/docker_alerts")
	msg := rendered(t, h.waitSent(admin.ID, "Alerts"))
	open, resolved := strings.Index(msg, "new-web"), strings.Index(msg, "old-web")
	if open < 0 || resolved < 0 || open > resolved {
		t.Errorf("/docker_alerts does not list the open incident first:\n%s", msg)
	}
	if !strings.Contains(msg, "recovered after 1m") {
		t.Errorf("/docker_alerts lacks the recovery:\n%s", msg)
	}
}

// The buttons on the real engine: 📜 Logs shows the container's lines up to the event
// through the logs operation, 🔄 Restart asks, and once confirmed restarts the project.
func TestAlertButtonsOnTheRealEngine(t *testing.T) {
	name, tweak := dockerProject(t)
	h := newAlertHarness(t, tweak)
	web := dockertest.V2Name(name, "web", 1)
	in := h.openDied(name, web, time.Now())
	row := h.waitAlertRow(in.ID, alertChat, store.AlertSent)
	id := strconv.FormatInt(in.ID, 10)

	h.answerTo(h.press(alertChat, reader, row.MessageID, "al:"+id))
	h.waitSent(alertChat, "stdout line 3")

	h.answerTo(h.press(alertChat, admin, row.MessageID, "ar:"+id))
	ask := h.waitSent(alertChat, "Restart Production Containers")
	h.answerTo(h.press(alertChat, admin, ask.MessageID, buttons(t, ask)[0]))
	h.waitSent(alertChat, "Restart complete")
}
