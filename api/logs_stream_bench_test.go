package api

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/scar-dev/scar/dockerops"
)

// discardResponse is a ResponseWriter that keeps nothing, so that a benchmark
// measures the encoding and not a recorder's buffer.
type discardResponse struct{ h http.Header }

func (d *discardResponse) Header() http.Header         { return d.h }
func (d *discardResponse) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardResponse) WriteHeader(int)             {}

var _ io.Writer = (*discardResponse)(nil)

// BenchmarkWriteLogs1000 encodes a logs answer of 1000 lines as JSON.
func BenchmarkWriteLogs1000(b *testing.B) {
	res := &dockerops.LogsResult{Project: "bench", Container: "bench-web-1"}
	t0 := time.Date(2026, 11, 28, 18, 0, 0, 0, time.UTC)
	for i := range 1000 {
		stream := "stdout"
		if i%2 == 1 {
			stream = "stderr"
		}
		res.Lines = append(res.Lines, dockerops.LogLine{
			Time:   t0.Add(time.Duration(i) * 1234567 * time.Nanosecond),
			Stream: stream,
			Text:   fmt.Sprintf("%s line %d: GET /api/v1/items/%d 200 1.2ms user=42", stream, i, i),
		})
	}
	r := httptest.NewRequest(http.MethodGet, "/api/v1/projects/bench/logs?lines=1000", nil)
	b.ReportAllocs()
	for b.Loop() {
		writeLogs(&discardResponse{h: http.Header{}}, r, res, DefaultMaxLogBytes)
	}
}
