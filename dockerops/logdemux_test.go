package dockerops

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/moby/moby/api/pkg/stdcopy"
)

// frame is one frame of the engine's multiplexed stream.
func frame(stream byte, payload string) string {
	var head [8]byte
	head[0] = stream
	binary.BigEndian.PutUint32(head[4:], uint32(len(payload)))
	return string(head[:]) + payload
}

// TestDemuxMatchesStdCopy: demux hands on the same bytes to the same streams and ends
// the same way as stdcopy.StdCopy, however the reads cut the stream.
func TestDemuxMatchesStdCopy(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 5000) + "\n" // larger than demuxBuffer
	tests := []struct {
		name   string
		stream string
	}{
		{"empty", ""},
		{"stdout and stderr", frame(1, "2025-06-01T12:00:00Z out 1\n") + frame(2, "2025-06-01T12:00:01Z err 1\n") + frame(1, "out 2 with no newline")},
		{"stdin goes to stdout", frame(0, "in\n") + frame(1, "out\n")},
		{"empty frame", frame(1, "") + frame(2, "e\n")},
		{"frame larger than the buffer", frame(1, "a\n") + frame(2, big) + frame(1, "b\n")},
		{"cut in a header", frame(1, "a\n") + frame(2, "b\n")[:5]},
		{"cut in a frame", frame(1, "a\n") + frame(2, "bbbbbbbb\n")[:12]},
		{"cut in a large frame", frame(1, "a\n") + frame(2, big)[:40000]},
		{"daemon error", frame(1, "a\n") + frame(3, "the daemon broke") + frame(1, "never\n")},
		{"unknown stream", frame(1, "a\n") + frame(9, "x") + frame(1, "never\n")},
	}
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"halves":   iotest.HalfReader,
	}
	for _, tc := range tests {
		for rname, wrap := range readers {
			t.Run(tc.name+"/"+rname, func(t *testing.T) {
				var wantOut, wantErr, gotOut, gotErr bytes.Buffer
				_, want := stdcopy.StdCopy(&wantOut, &wantErr, wrap(strings.NewReader(tc.stream)))
				got := demux(wrap(strings.NewReader(tc.stream)), &gotOut, &gotErr)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("error %v, StdCopy's %v", got, want)
				}
				if gotOut.String() != wantOut.String() || gotErr.String() != wantErr.String() {
					t.Errorf("stdout %d bytes, stderr %d bytes; StdCopy gave %d and %d", gotOut.Len(), gotErr.Len(), wantOut.Len(), wantErr.Len())
				}
			})
		}
	}

	t.Run("read error", func(t *testing.T) {
		broken := errors.New("connection reset")
		r := io.MultiReader(strings.NewReader(frame(1, "a\n")), iotest.ErrReader(broken))
		if err := demux(r, io.Discard, io.Discard); !errors.Is(err, broken) {
			t.Errorf("error %v, want %v", err, broken)
		}
	})
}
