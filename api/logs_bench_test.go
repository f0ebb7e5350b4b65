package api

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/store"
)

// BenchmarkLogsREST is GET /api/v1/projects/{p}/logs?lines=1000 (JSON) of the primary
// container of a project of 10, as the bench row asks it, wired as scar serve wires it
// (benchServed). "service" is dockerops' Logs alone; "raw-engine-call" is the floor:
// the engine's logs call through the same client library, its body read.
func BenchmarkLogsREST(b *testing.B) {
	dir := b.TempDir()
	for _, d := range []string{"ws", "prod"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	s := newBenchServed(b, "benchlogs", filepath.Join(dir, "ws"), filepath.Join(dir, "prod"), func(i int, cs *dockertest.ContainerSpec) {
		cs.Env = []string{"LOG_LINES=5"}
		if i == 0 {
			cs.Env = []string{"LOG_LINES=500"} // 500 to stdout and 500 to stderr
		}
	}, func(*store.DB) []dockerops.Option { return nil })
	ctx := b.Context()
	hc := &http.Client{}

	b.Run("rest", func(b *testing.B) {
		benchLoop(b, func() { s.get(b, hc, "/api/v1/projects/app/logs?lines=1000", 50_000) })
	})

	b.Run("service", func(b *testing.B) {
		benchLoop(b, func() {
			res, err := s.ops.Logs(ctx, "app", dockerops.LogsRequest{Lines: 1000, MaxBytes: DefaultMaxLogBytes})
			if err != nil || len(res.Lines) != 1000 {
				b.Fatalf("logs: %v", err)
			}
		})
	})

	b.Run("raw-engine-call", func(b *testing.B) {
		benchLoop(b, func() {
			rc, err := s.engine.ContainerLogs(ctx, s.ids[0], client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true, Tail: "1000"})
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, rc)
			rc.Close()
			if err != nil || n < 50_000 {
				b.Fatalf("logs: %d bytes, %v", n, err)
			}
		})
	})
}
