package dockerops

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestLogCollectorArena: however many lines go by the ring (so that the arena moves
// its live text many times), the kept lines are the newest ones that pass the grep
// and the byte bound, their text made valid UTF-8, as a plain list would keep them.
func TestLogCollectorArena(t *testing.T) {
	texts := make([]string, 6000)
	for i := range texts {
		texts[i] = fmt.Sprintf("%05d %s", i, strings.Repeat("ab\xffc é ", i%37))
		if i%5 == 0 {
			texts[i] += " MATCH"
		}
	}
	tests := []struct {
		name     string
		n        int
		grep     string
		maxBytes int
	}{
		{"last 7", 7, "", 0},
		{"last 1000", 1000, "", 0},
		{"grep", 50, "match", 0},
		{"byte bound", 1000, "", 30_000},
		{"byte bound and grep", 300, "MATCH", 9_000},
		{"bound shorter than a line", 3, "", 40},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newLogCollector(tc.n, tc.grep)
			c.maxBytes = tc.maxBytes
			w := c.writer(streamStdout)
			for _, text := range texts {
				fmt.Fprintf(w, "2025-06-01T12:00:00Z %s\n", text)
			}
			w.flush()
			var got []string
			for _, l := range c.result() {
				got = append(got, l.Text)
			}
			want, truncated := keepLines(texts, tc.n, tc.grep, tc.maxBytes)
			if !slices.Equal(got, want) || c.truncated != truncated {
				t.Errorf("kept %d lines (truncated %v), want %d (truncated %v)", len(got), c.truncated, len(want), truncated)
			}
			if dead := len(c.text) - c.bytes; dead > max(c.bytes, arenaSlack)+maxLineBytes {
				t.Errorf("the arena holds %d dead bytes for %d live ones", dead, c.bytes)
			}
		})
	}
}

// keepLines is what the collector keeps, worked out on a plain list.
func keepLines(texts []string, n int, grep string, maxBytes int) ([]string, bool) {
	var kept []string
	truncated, size := false, 0
	drop := func() {
		size -= len(kept[0])
		kept = kept[1:]
	}
	for _, text := range texts {
		if grep != "" && !strings.Contains(strings.ToLower(text), strings.ToLower(grep)) {
			continue
		}
		if len(kept) == n {
			drop()
		}
		text = strings.ToValidUTF8(text, "\uFFFD")
		if maxBytes > 0 {
			for len(kept) > 0 && size+len(text) > maxBytes {
				drop()
				truncated = true
			}
			if len(text) > maxBytes {
				text, truncated = strings.ToValidUTF8(text[:maxBytes], ""), true
			}
		}
		kept = append(kept, text)
		size += len(text)
	}
	return kept, truncated
}
