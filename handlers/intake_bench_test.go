package handlers

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scar-dev/scar/api"
	"github.com/scar-dev/scar/metrics"
)

// BenchmarkWebhookIntake is one webhook update the way cmd/scar serves it, per update
// from 100 goroutines: api.NewServer's router and middleware (request id, client
// address, the JSON request log line written to a file, the request metric, the body
// limit), then the webhook with its update ids grouped into SQLite commits, and the
// chat workers (an unknown user: told once, then refused silently), drained at the
// end. allocs/op is per update. Run with:
//
//	go test -run '^$' -bench WebhookIntake -benchmem -count 5 ./handlers/
func BenchmarkWebhookIntake(b *testing.B) {
	bot := benchBot(b, true)
	logFile, err := os.Create(filepath.Join(b.TempDir(), "scar.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { logFile.Close() })
	const path = "/telegram/webhook"
	srv := api.NewServer(api.Deps{
		Logger:      slog.New(slog.NewJSONHandler(logFile, nil)),
		Metrics:     metrics.New(prometheus.NewRegistry(), "bench"),
		Webhook:     bot.WebhookHandler(),
		WebhookPath: path,
	})
	bodies := make([][]byte, b.N)
	for i := range bodies {
		bodies[i] = updateBody(1_000_000+i, 100_000+i%100)
	}
	var next, refused atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(50)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(bodies[next.Add(1)-1]))
			req.Header.Set(secretHeader, testSecret)
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				refused.Add(1)
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := bot.Shutdown(ctx); err != nil {
		b.Error(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(refused.Load()), "not-taken")
}

// updateBody is the update bench/suite POSTs: a private "/docker_status" from user.
func updateBody(id, user int) []byte {
	return fmt.Appendf(nil, `{"update_id":%d,"message":{"message_id":%d,"date":1767225600,`+
		`"chat":{"id":%d,"type":"private","first_name":"Load","username":"load%d"},`+
		`"from":{"id":%d,"is_bot":false,"first_name":"Load","username":"load%d","language_code":"en"},`+
		`"text":"/docker_status","entities":[{"offset":0,"length":14,"type":"bot_command"}]}}`,
		id, id, user, user, user, user)
}
