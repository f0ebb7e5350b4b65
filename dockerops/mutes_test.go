package dockerops

import (
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/store"
)

// TestStatusSaysUntilWhenAlertsAreMuted: with the state store's mutes, status (and so
// the REST JSON) carries muted_until while a project is muted, and nothing otherwise.
func TestStatusSaysUntilWhenAlertsAreMuted(t *testing.T) {
	t.Parallel()
	db, err := store.Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cp := dockertest.UniqueName(t, "muted")
	ps := projectMap{
		"shop": {Name: "shop", Containers: []string{cp + "-ghost"}},
		"blog": {Name: "blog", Containers: []string{cp + "-ghost"}},
	}
	now := time.Now()
	f := newFixture(t, ps, WithMutes(db), WithClock(func() time.Time { return now }))
	until := now.Add(time.Hour).Truncate(time.Second)
	if err := db.SetMute(t.Context(), store.Mute{Project: "shop", Until: until, Who: "telegram:42"}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]time.Time{"shop": until, "blog": {}} {
		st, err := f.svc.Status(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		if !st.MutedUntil.Equal(want) {
			t.Errorf("%s: muted until %v, want %v", name, st.MutedUntil, want)
		}
		body, _ := json.Marshal(st)
		if has := strings.Contains(string(body), `"muted_until":`); has != !want.IsZero() {
			t.Errorf("%s: JSON %s", name, body)
		}
	}
}

// TestStatusLeavesOutAMuteThatEndedWhileTheEngineAnswered: the mutes are read while
// the engine answers; a mute that ended before the status was done is not in it
// (muted_until, when there, is after checked_at).
func TestStatusLeavesOutAMuteThatEndedWhileTheEngineAnswered(t *testing.T) {
	t.Parallel()
	db, err := store.Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cp := dockertest.UniqueName(t, "mutend")
	ps := projectMap{"shop": {Name: "shop", Containers: []string{cp + "-ghost"}}}
	// The mutes are read at start; the status is done an hour later by this clock.
	start := time.Now()
	var calls atomic.Int32
	clock := func() time.Time {
		if calls.Add(1) == 1 {
			return start
		}
		return start.Add(time.Hour)
	}
	f := newFixture(t, ps, WithMutes(db), WithClock(clock))
	if err := db.SetMute(t.Context(), store.Mute{Project: "shop", Until: start.Add(30 * time.Minute), Who: "telegram:42"}); err != nil {
		t.Fatal(err)
	}
	st, err := f.svc.Status(t.Context(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	if !st.MutedUntil.IsZero() && !st.MutedUntil.After(st.CheckedAt) {
		t.Errorf("muted until %v, before the status was done (%v)", st.MutedUntil, st.CheckedAt)
	}
}
