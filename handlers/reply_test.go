package handlers

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/internal/telegramfake"
)

// checkChunks asserts that every chunk is valid Telegram HTML under the limit and
// returns what the user would read, chunk by chunk.
func checkChunks(t *testing.T, chunks []string) []string {
	t.Helper()
	var out []string
	for i, c := range chunks {
		s, err := telegramfake.Rendered(c, "HTML")
		if err != nil {
			t.Fatalf("chunk %d is not valid HTML: %v\n%s", i, err, c)
		}
		if n := telegramfake.Length(s); n > messageLimit {
			t.Fatalf("chunk %d has %d characters, over %d", i, n, messageLimit)
		}
		out = append(out, s)
	}
	return out
}

func TestChunksSplitAtLineBoundaries(t *testing.T) {
	tests := []struct {
		name       string
		lines      int
		lineLen    int
		wantChunks int
	}{
		{"fits in one", 10, 20, 1},
		{"just over one", 150, 30, 2}, // 150 lines of 31 characters: 4650
		{"several", 1000, 40, 10},     // 40000 characters, about 4096 a message
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &reply{}
			r.add("📜 <b>header</b>")
			var raw []string
			for i := range tc.lines {
				s := fmt.Sprintf("%05d %s", i, strings.Repeat("<&>", (tc.lineLen-6)/3))
				raw = append(raw, s)
			}
			r.addPre(raw...)
			r.add("👉 Next: /docker_status")
			got := checkChunks(t, r.chunks(messageLimit))
			if len(got) != tc.wantChunks {
				t.Fatalf("%d chunks, want %d", len(got), tc.wantChunks)
			}
			// Every line arrives whole, in order, and nothing else is lost.
			joined := strings.Join(got, "\n")
			want := "📜 header\n" + strings.Join(raw, "\n") + "\n👉 Next: /docker_status"
			if joined != want {
				t.Errorf("joined chunks differ from the reply's lines")
			}
		})
	}
}

func TestChunksCutOverlongLine(t *testing.T) {
	r := &reply{}
	r.add("head")
	long := strings.Repeat("é&", 5000) // 10000 runes, 30000 bytes escaped
	r.addPre(long)
	got := checkChunks(t, r.chunks(messageLimit))
	if len(got) < 3 {
		t.Fatalf("%d chunks for a 10000-character line, want at least 3", len(got))
	}
	if strings.ReplaceAll(strings.Join(got, ""), "\n", "") != "head"+long {
		t.Error("the cut line does not add up to the original")
	}
}

func TestChunksCountUTF16(t *testing.T) {
	r := &reply{}
	for range 300 {
		r.addPre(strings.Repeat("😀", 10)) // 20 UTF-16 units each
	}
	checkChunks(t, r.chunks(messageLimit))
}

func TestTitleAndDuration(t *testing.T) {
	if got := title("project-orchestrator"); got != "Project-Orchestrator" {
		t.Errorf("title = %q", got)
	}
	tests := map[time.Duration]string{
		0:                                 "0s",
		42 * time.Second:                  "42s",
		2 * time.Minute:                   "2m",
		3 * time.Hour:                     "3h",
		5*time.Minute + 10*time.Second:    "5m 10s",
		2*time.Hour + 15*time.Minute:      "2h 15m",
		3*24*time.Hour + 4*time.Hour + 59: "3d 4h",
	}
	for d, want := range tests {
		if got := duration(d); got != want {
			t.Errorf("duration(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestErrorTextEscapesAndMapsKinds(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"busy", &dockerops.BusyError{Project: "po", Operation: "deploy", Who: "telegram:1 (<b>)", Since: time.Date(2025, 12, 20, 15, 30, 0, 0, time.UTC)}, "po is busy: deploy by telegram:1 (<b>) since 15:30:00 UTC"},
		{"docker down", fmt.Errorf("status: %w", dockerops.ErrDockerUnavailable), "Docker is not answering"},
		{"bad input", fmt.Errorf("lines <0> & more: %w", dockerops.ErrBadInput), "lines <0> & more"},
		{"misconfigured", fmt.Errorf(`restart po: compose project "p<o>" has no containers: %w`, dockerops.ErrMisconfigured), `Could not restart, the projects file needs a fix: restart po: compose project "p<o>" has no containers`},
		{"not deployed", fmt.Errorf(`restart po: compose project "po" has no containers yet: deploy it: %w`, dockerops.ErrNotDeployed), `Could not restart: restart po: compose project "po" has no containers yet: deploy it`},
		{"other", errors.New(`exec "<script>" & co`), `Could not restart: exec "<script>" & co`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text := errorText("restart", tc.err)
			got, err := telegramfake.Rendered(text, "HTML")
			if err != nil {
				t.Fatalf("bad HTML %q: %v", text, err)
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("errorText = %q, want it to contain %q", got, tc.want)
			}
		})
	}
}
