package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestIncidentLifecycle: an incident opens at version 1, each update bumps the
// version, resolving keeps it, and listing puts open ones first.
func TestIncidentLifecycle(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	t0 := time.Unix(1_800_000_000, 123)
	first, err := db.OpenIncident(ctx, Incident{Project: "shop", Container: "shop-web-1", ContainerID: "abc",
		Kind: KindDied, EventAt: t0, OpenedAt: t0.Add(time.Millisecond), Summary: "exited with code 3", Detail: "line 1\nline 2"})
	if err != nil {
		t.Fatal(err)
	}
	if first.ID == 0 || first.Version != 1 || first.State != IncidentOpen || first.Count != 1 {
		t.Fatalf("opened %+v; want an id, version 1, open, count 1", first)
	}
	other, err := db.OpenIncident(ctx, Incident{Project: "blog", Kind: KindOOM, EventAt: t0, OpenedAt: t0.Add(2 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	first.Kind, first.Count, first.UpdatedAt = KindCrashLoop, 3, t0.Add(time.Second)
	if first, err = db.UpdateIncident(ctx, first); err != nil || first.Version != 2 {
		t.Fatalf("update: version %d, %v; want 2", first.Version, err)
	}
	other.State, other.ResolvedAt, other.UpdatedAt = IncidentResolved, t0.Add(time.Minute), t0.Add(time.Minute)
	if other, err = db.UpdateIncident(ctx, other); err != nil || other.Version != 2 {
		t.Fatalf("resolve: version %d, %v; want 2", other.Version, err)
	}
	got, err := db.Incident(ctx, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Kind != KindCrashLoop || got.Count != 3 || !got.EventAt.Equal(t0) || got.Detail != "line 1\nline 2" || !got.Open() {
		t.Errorf("read back %+v", got)
	}
	list, err := db.Incidents(ctx, IncidentQuery{})
	if err != nil || len(list) != 2 || list[0].ID != first.ID || list[1].ResolvedAt.IsZero() {
		t.Errorf("list: %+v, %v; want the open one first, then the resolved one with its time", list, err)
	}
	if list, _ := db.Incidents(ctx, IncidentQuery{Project: "blog"}); len(list) != 1 || list[0].ID != other.ID {
		t.Errorf("list of blog: %+v", list)
	}
	if open, _ := db.OpenIncidents(ctx, ""); len(open) != 1 || open[0].ID != first.ID {
		t.Errorf("open incidents: %+v; want only %d", open, first.ID)
	}
	if _, err := db.UpdateIncident(ctx, Incident{ID: 999}); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of an unknown incident: %v, want ErrNotFound", err)
	}
}

// TestWatchCursorRoundTrip: the cursor keeps its nanoseconds and the keys seen at it.
func TestWatchCursorRoundTrip(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	if at, seen, err := db.WatchCursor(ctx, "unix:///var/run/docker.sock"); err != nil || !at.IsZero() || seen != nil {
		t.Fatalf("fresh cursor: %v %v %v", at, seen, err)
	}
	at := time.Unix(1_800_000_000, 987654321)
	for _, keys := range [][]string{{"die abc"}, {"die abc", "start abc"}} {
		if err := db.SetWatchCursor(ctx, "h", at, keys); err != nil {
			t.Fatal(err)
		}
		gotAt, gotSeen, err := db.WatchCursor(ctx, "h")
		if err != nil || !gotAt.Equal(at) || len(gotSeen) != len(keys) {
			t.Errorf("cursor: %v %v %v; want %v %v", gotAt, gotSeen, err, at, keys)
		}
	}
}
