package dockerops

import (
	"encoding/json"
	"strings"
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
