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

// TestLogCollectorOrdersByStamp: lines come out oldest first by their stamps, a line
// the engine sent late put back in its place, and lines with the same stamp in the
// order the engine sent them; lines already in order stay as they are.
func TestLogCollectorOrdersByStamp(t *testing.T) {
	stamp := func(s int) string { return fmt.Sprintf("2025-06-01T12:00:%02dZ", s) }
	tests := []struct {
		name string
		sent []string // "<second> <text>", as the engine sent them
		want []string
	}{
		{"in order", []string{"1 a", "2 b", "2 c", "3 d"}, []string{"a", "b", "c", "d"}},
		{"one late", []string{"1 a", "3 c", "2 b", "4 d"}, []string{"a", "b", "c", "d"}},
		{"same stamps keep the order sent", []string{"2 x", "1 a", "2 y", "2 z", "1 b"}, []string{"a", "b", "x", "y", "z"}},
		{"reversed", []string{"5 e", "4 d", "3 c", "2 b", "1 a"}, []string{"a", "b", "c", "d", "e"}},
		// Past the dozen lines a sort takes by insertion, which is stable anyway.
		{"many same stamps", manyStamped(), slices.Concat(numbered("a", 30), numbered("b", 30))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newLogCollector(100, "")
			out, errs := c.writer(streamStdout), c.writer(streamStderr)
			for i, l := range tc.sent {
				var s int
				var text string
				fmt.Sscanf(l, "%d %s", &s, &text)
				w := out
				if i%2 == 1 {
					w = errs
				}
				fmt.Fprintf(w, "%s %s\n", stamp(s), text)
			}
			var got []string
			for _, l := range c.result() {
				got = append(got, l.Text)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("sent %q: got %q, want %q", tc.sent, got, tc.want)
			}
		})
	}
}

// manyStamped is 60 lines sent with stamps 2 and 1 in turn: b00 a00 b01 a01 ...
func manyStamped() []string {
	var out []string
	for i := range 30 {
		out = append(out, fmt.Sprintf("2 b%02d", i), fmt.Sprintf("1 a%02d", i))
	}
	return out
}

// numbered is prefix00, prefix01, ... n of them.
func numbered(prefix string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("%s%02d", prefix, i))
	}
	return out
}
