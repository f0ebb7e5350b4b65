package handlers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/internal/telegramfake"
	"github.com/scar-dev/scar/metrics"
	"github.com/scar-dev/scar/store"
)

// Run with: go test -run '^$' -bench . -benchmem ./handlers/
// bench/run.sh times the whole webhook of a running scar against a bare handler.

// benchBot is a bot on the fake Bot API and a real store in a temporary directory.
// grouped puts GroupUpdates in front of the store, as cmd/scar does.
func benchBot(b *testing.B, grouped bool) *Bot {
	b.Helper()
	api := telegramfake.New(b)
	db, err := store.Open(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	var updates UpdateLog = db
	if grouped {
		updates = GroupUpdates(db)
	}
	bot, err := New(Config{
		Token:         telegramfake.Token,
		APIURL:        api.URL,
		Mode:          ModeWebhook,
		WebhookSecret: testSecret,
		AllowedUsers:  []int64{admin.ID},
	}, Deps{
		Ops: &fakeOps{StatusFn: func(ctx context.Context, project string) (*dockerops.ProjectStatus, error) {
			return seedStatus(project), nil
		}},
		Projects: writeProjects(b, seedProjects),
		Updates:  updates,
		Audit:    db,
		Metrics:  metrics.New(prometheus.NewRegistry(), "bench"),
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := bot.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	return bot
}

// BenchmarkDecodeUpdate decodes the updates the webhook receives most: a command
// message and a button press.
func BenchmarkDecodeUpdate(b *testing.B) {
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"message", telegramfake.Message(1001, admin.ID, admin, "/docker_logs project-orchestrator 100")},
		{"callback_query", telegramfake.Callback(1002, admin.ID, admin, 77, "confirm:abcdef0123456789")},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.body)))
			for b.Loop() {
				if _, err := DecodeUpdate(tc.body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// tenContainers is a status as /docker_status shows it for the benchmark's project.
func tenContainers() *dockerops.ProjectStatus {
	st := &dockerops.ProjectStatus{Project: "project-orchestrator", Workspace: "/workspace/project-orchestrator",
		Production: "/home/samuel/po", PendingChanges: true}
	for i := range 10 {
		st.Containers = append(st.Containers, dockerops.ContainerStatus{
			Name: fmt.Sprintf("po-svc%d-1", i), Service: fmt.Sprintf("svc%d", i), State: "running",
			Health: dockerops.HealthHealthy, UptimeSeconds: int64(3600*i + 42), RestartCount: i % 3,
			Ports: []string{fmt.Sprintf("%d→8000/tcp", 8000+i)}, Image: "po-backend:latest", Primary: i == 0,
		})
	}
	return st
}

// BenchmarkFormatStatus lays out a 10-container status as HTML messages.
func BenchmarkFormatStatus(b *testing.B) {
	bot := benchBot(b, false)
	st := tenContainers()
	b.ReportAllocs()
	for b.Loop() {
		if msgs := bot.formatStatus(st).chunks(4096); len(msgs) != 1 {
			b.Fatalf("%d messages, want 1", len(msgs))
		}
	}
}

// BenchmarkWebhookUpdate is the webhook's work per update, each with a new
// update_id, from 100 goroutines at once: secret check, decode, the update id
// recorded in SQLite (one commit per update, or grouped as cmd/scar runs it), the
// update queued in its chat and handled by a worker (an unknown user: told once how
// to get access, then refused silently). baseline is the cost of the benchmark's
// own requests and recorder, to be subtracted; allocs/op is per update.
func BenchmarkWebhookUpdate(b *testing.B) {
	for _, tc := range []struct {
		name    string
		handler func(b *testing.B) (http.Handler, func())
	}{
		{"baseline", func(*testing.B) (http.Handler, func()) {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }), func() {}
		}},
		{"store", func(b *testing.B) (http.Handler, func()) { return webhookOf(b, false) }},
		{"grouped", func(b *testing.B) (http.Handler, func()) { return webhookOf(b, true) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h, drain := tc.handler(b)
			bodies := make([][]byte, b.N)
			for i := range bodies {
				user := telegramfake.User{ID: int64(100_000 + i%100)}
				bodies[i] = telegramfake.Message(1_000_000+i, user.ID, user, "/docker_status")
			}
			var next, refused atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(50)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest(http.MethodPost, "/telegram/webhook", bytes.NewReader(bodies[next.Add(1)-1]))
					req.Header.Set(secretHeader, testSecret)
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != http.StatusOK {
						refused.Add(1)
					}
				}
			})
			drain()
			b.StopTimer()
			// Not a failure: a full queue answers 503 for Telegram to deliver again.
			b.ReportMetric(float64(refused.Load()), "not-taken")
		})
	}
}

// webhookOf returns a bot's webhook and the function that waits for its workers.
func webhookOf(b *testing.B, grouped bool) (http.Handler, func()) {
	bot := benchBot(b, grouped)
	return bot.WebhookHandler(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := bot.Shutdown(ctx); err != nil {
			b.Error(err)
		}
	}
}
