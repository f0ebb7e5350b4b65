package dockerops

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
)

// engineLogStream is what the engine sends for `logs?timestamps=1` of a non-TTY
// container: n lines, stdout and stderr in turn, multiplexed as stdcopy frames.
func engineLogStream(tb testing.TB, n int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	t0 := time.Date(2026, 11, 28, 18, 0, 0, 0, time.UTC)
	for i := range n {
		fd, stream := stdcopy.Stdout, "stdout"
		if i%2 == 1 {
			fd, stream = stdcopy.Stderr, "stderr"
		}
		ts := t0.Add(time.Duration(i) * 1234567 * time.Nanosecond).Format(time.RFC3339Nano)
		line := fmt.Sprintf("%s %s line %d: GET /api/v1/items/%d 200 1.2ms user=42\n", ts, stream, i, i)
		buf.Write([]byte{byte(fd), 0, 0, 0})
		buf.Write(binary.BigEndian.AppendUint32(nil, uint32(len(line))))
		buf.WriteString(line)
	}
	return buf.Bytes()
}

// BenchmarkReadLogs1000 reads 1000 lines as the engine sends them (demultiplex, cut
// into lines, parse the stamps, keep in the ring, sort): the read path of Logs
// without the engine.
func BenchmarkReadLogs1000(b *testing.B) {
	stream := engineLogStream(b, 1000)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		col := newLogCollector(1000, "")
		if err := col.read(bytes.NewReader(stream), false); err != nil {
			b.Fatal(err)
		}
		if got := len(col.result()); got != 1000 {
			b.Fatalf("%d lines, want 1000", got)
		}
	}
}
