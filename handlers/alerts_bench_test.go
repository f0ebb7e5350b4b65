package handlers

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scar-dev/scar/internal/telegramfake"
	"github.com/scar-dev/scar/metrics"
	"github.com/scar-dev/scar/store"
)

// BenchmarkAlertDelivery times an incident written to the store (as the watcher
// writes it) until the fake Bot API accepted the sendMessage that shows it and the
// notification log recorded it, one incident after another, with folding off so
// that each is a sendMessage; it reports p50 and p99 over the iterations.
//
//	go test -run '^$' -bench AlertDelivery -benchtime 200x ./handlers/
func BenchmarkAlertDelivery(b *testing.B) {
	api := telegramfake.New(b)
	db, err := store.Open(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	bot, err := New(Config{
		Token: telegramfake.Token, APIURL: api.URL, Mode: ModeWebhook, WebhookSecret: testSecret,
		AllowedUsers: []int64{admin.ID}, AlertChats: []int64{alertChat}, AlertFold: time.Nanosecond,
		ChatRate: 1e6, GlobalRate: 1e6,
	}, Deps{
		Ops: &fakeOps{}, Projects: writeProjects(b, seedProjects), Updates: db, Audit: db,
		Metrics: metrics.New(prometheus.NewRegistry(), "bench"), Alerts: db,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bot.Shutdown(context.Background()) })
	ctx := context.Background()
	var took []time.Duration
	for b.Loop() {
		start := time.Now()
		in, err := db.OpenIncident(ctx, store.Incident{Project: defaultProject, Container: "web", Kind: store.KindDied,
			EventAt: start, OpenedAt: start, Summary: "exited with code 3"})
		if err != nil {
			b.Fatal(err)
		}
		bot.PokeAlerts()
		for {
			rows, err := db.AlertMessagesOf(ctx, []int64{in.ID})
			if err != nil {
				b.Fatal(err)
			}
			if len(rows) == 1 && rows[0].SentVersion == in.Version {
				break
			}
			time.Sleep(100 * time.Microsecond)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
}
