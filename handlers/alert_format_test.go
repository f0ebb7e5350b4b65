package handlers

import (
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/internal/telegramfake"
	"github.com/scar-dev/scar/store"
)

// TestAlertHeadline: each kind reads as the issue shows it; names are escaped; a
// deploy notice is born resolved and never "recovers".
func TestAlertHeadline(t *testing.T) {
	at := time.Date(2026, 11, 28, 12, 3, 5, 0, time.UTC)
	resolved := func(in store.Incident, after time.Duration) store.Incident {
		in.State, in.ResolvedAt = store.IncidentResolved, in.EventAt.Add(after)
		return in
	}
	died := store.Incident{Project: "shop", Container: "web<1>", Kind: store.KindDied, State: store.IncidentOpen, EventAt: at, Summary: "exited with code 3"}
	host := store.Incident{Kind: store.KindDockerUnreachable, State: store.IncidentOpen, EventAt: at}
	bake := store.Incident{Project: "shop", Kind: store.KindBakeFailed, State: store.IncidentResolved, EventAt: at, ResolvedAt: at,
		Summary: "web exited with code 1 during the bake", DeploymentID: "d1"}
	for _, tc := range []struct {
		name string
		in   store.Incident
		want string
	}{
		{"died", died, "🔴 shop · web<1> — died: exited with code 3"},
		{"recovered", resolved(died, 2*time.Minute+13*time.Second), "✅ shop · web<1> — died: exited with code 3 · recovered after 2m 13s"},
		{"oom", store.Incident{Project: "shop", Container: "w", Kind: store.KindOOM, State: store.IncidentOpen, EventAt: at, Summary: "OOM killed (memory limit 28 MiB)"}, "💥 shop · w — OOM: OOM killed (memory limit 28 MiB)"},
		{"unhealthy", store.Incident{Project: "shop", Container: "w", Kind: store.KindUnhealthy, State: store.IncidentOpen, EventAt: at, Summary: "health check failing: 503"}, "🟠 shop · w — unhealthy: health check failing: 503"},
		{"crash loop", store.Incident{Project: "shop", Container: "w", Kind: store.KindCrashLoop, State: store.IncidentOpen, EventAt: at, Summary: "restarting in a loop: 5 restarts in 10m, last exit code 1"}, "🔁 shop · w — crash loop: restarting in a loop: 5 restarts in 10m, last exit code 1"},
		{"host down", host, "🔌 Docker unreachable since 12:03:05 UTC"},
		{"host back", resolved(host, 3*time.Minute), "✅ Docker reachable again after 3m (unreachable since 12:03:05 UTC)"},
		{"bake notice", bake, "🚨 shop — bake failed, rolled back: web exited with code 1 during the bake"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := telegramfake.Rendered(alertHeadline(tc.in), "HTML")
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("headline %q, want %q", got, tc.want)
			}
			if notice(tc.in) && strings.Contains(got, "recovered") {
				t.Error("a notice recovered")
			}
		})
	}
	if kb := alertKeyboard([]store.Incident{host}); kb != nil {
		t.Errorf("a host alert has buttons %+v", kb)
	}
	if kb := alertKeyboard([]store.Incident{bake}); kb == nil || len(kb.InlineKeyboard[0]) != 1 {
		t.Errorf("a deploy notice's buttons %+v, want Mute only", kb)
	}
}
