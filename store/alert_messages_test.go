package store

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestPendingAlertsFollowVersions: an incident is pending until marked alerted at its
// version; a change makes it pending again; marking never goes back.
func TestPendingAlertsFollowVersions(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	t0 := time.Unix(1_800_000_000, 0)
	a, err := db.OpenIncident(ctx, Incident{Project: "shop", Kind: KindDied, EventAt: t0, OpenedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	b, err := db.OpenIncident(ctx, Incident{Project: "blog", Kind: KindOOM, EventAt: t0.Add(-time.Second), OpenedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	pending := func(want ...int64) {
		t.Helper()
		got, err := db.PendingAlerts(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, in := range got {
			ids = append(ids, in.ID)
		}
		if len(ids) != len(want) {
			t.Fatalf("pending %v, want %v", ids, want)
		}
		for i := range want {
			if ids[i] != want[i] {
				t.Fatalf("pending %v, want %v (oldest event first)", ids, want)
			}
		}
	}
	pending(b.ID, a.ID)
	if err := db.MarkAlerted(ctx, a.ID, a.Version); err != nil {
		t.Fatal(err)
	}
	pending(b.ID)
	a.State, a.ResolvedAt = IncidentResolved, t0.Add(time.Minute)
	if a, err = db.UpdateIncident(ctx, a); err != nil {
		t.Fatal(err)
	}
	pending(b.ID, a.ID)
	if err := db.MarkAlerted(ctx, a.ID, a.Version); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkAlerted(ctx, a.ID, 1); err != nil { // a slower sweep
		t.Fatal(err)
	}
	pending(b.ID)
}

// TestAlertMessagesLog: rows are replaced per incident and chat; a message's incidents
// come in the order they were placed; the latest message of a chat and the chats that
// refused are found.
func TestAlertMessagesLog(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	t0 := time.Unix(1_800_000_000, 0)
	var ids []int64
	for i := range 3 {
		in, err := db.OpenIncident(ctx, Incident{Project: "shop", Kind: KindDied, EventAt: t0, OpenedAt: t0, Container: string(rune('a' + i))})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, in.ID)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(db.RecordAlerts(ctx,
		AlertMessage{IncidentID: ids[0], ChatID: -1, MessageID: 10, SentVersion: 1, SentAt: t0, Outcome: AlertSent},
		AlertMessage{IncidentID: ids[1], ChatID: -1, MessageID: 10, SentAt: t0.Add(time.Second)}, // claimed, not shown yet
		AlertMessage{IncidentID: ids[2], ChatID: -1, MessageID: 11, SentVersion: 1, SentAt: t0.Add(time.Minute), Outcome: AlertSent},
		AlertMessage{IncidentID: ids[0], ChatID: -2, SentVersion: 1, SentAt: t0, Outcome: AlertRefused},
	))
	ins, rows, err := db.MessageAlerts(ctx, -1, 10)
	must(err)
	if len(ins) != 2 || ins[0].ID != ids[0] || ins[1].ID != ids[1] || rows[1].SentVersion != 0 {
		t.Fatalf("message 10 carries %+v / %+v", ins, rows)
	}
	id, at, err := db.LatestAlertMessage(ctx, -1, AlertSent)
	must(err)
	if id != 11 || !at.Equal(t0.Add(time.Minute)) {
		t.Errorf("latest message %d at %s, want 11 at %s", id, at, t0.Add(time.Minute))
	}
	refused, err := db.RefusedAlertChats(ctx)
	must(err)
	if len(refused) != 1 || !refused[-2].Equal(t0) {
		t.Errorf("refused chats %v, want -2", refused)
	}
	// A later alert that reached the chat clears the refusal.
	must(db.RecordAlerts(ctx, AlertMessage{IncidentID: ids[1], ChatID: -2, MessageID: 12, SentVersion: 1, SentAt: t0.Add(time.Hour), Outcome: AlertSent}))
	if refused, err = db.RefusedAlertChats(ctx); err != nil || len(refused) != 0 {
		t.Errorf("refused chats %v, %v after a delivery, want none", refused, err)
	}
	// Replacing a row.
	must(db.RecordAlerts(ctx, AlertMessage{IncidentID: ids[1], ChatID: -1, MessageID: 10, SentVersion: 1, SentAt: t0.Add(time.Second), Outcome: AlertSent}))
	rs, err := db.AlertMessagesOf(ctx, []int64{ids[1]})
	must(err)
	if len(rs) != 2 {
		t.Fatalf("rows of incident %d: %+v", ids[1], rs)
	}
	for _, r := range rs {
		if r.ChatID == -1 && (r.SentVersion != 1 || r.Outcome != AlertSent) {
			t.Errorf("row not replaced: %+v", r)
		}
	}
}

// TestMutes: a mute is in force until its time; unmuting reports whether one was.
func TestMutes(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	t0 := time.Unix(1_800_000_000, 0)
	if err := db.SetMute(ctx, Mute{Project: "shop", Until: t0.Add(time.Hour), Who: "telegram:42"}); err != nil {
		t.Fatal(err)
	}
	m, err := db.Mutes(ctx, t0)
	if err != nil || m["shop"].Who != "telegram:42" || !m["shop"].Until.Equal(t0.Add(time.Hour)) {
		t.Fatalf("mutes %v, %v", m, err)
	}
	if m, _ := db.Mutes(ctx, t0.Add(time.Hour)); len(m) != 0 {
		t.Errorf("mutes at the end %v, want none", m)
	}
	if was, err := db.Unmute(ctx, "shop", t0.Add(2*time.Hour)); err != nil || was {
		t.Errorf("unmute after the end: %v, %v; want false", was, err)
	}
	if err := db.SetMute(ctx, Mute{Project: "shop", Until: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if was, err := db.Unmute(ctx, "shop", t0); err != nil || !was {
		t.Errorf("unmute: %v, %v; want true", was, err)
	}
	if m, _ := db.Mutes(ctx, t0); len(m) != 0 {
		t.Errorf("mutes after unmute %v", m)
	}
}

// TestRefusedAlertChatsInChangesNothing: a state directory without a database has no
// refused chats and gets no database.
func TestRefusedAlertChatsInChangesNothing(t *testing.T) {
	dir := t.TempDir()
	got, err := RefusedAlertChatsIn(context.Background(), dir)
	if err != nil || len(got) != 0 {
		t.Fatalf("%v, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("reading made %s: %v", FileName, err)
	}
}
