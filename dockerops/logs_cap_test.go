package dockerops

import (
	"fmt"
	"strings"
	"testing"
)

// TestLogCollectorByteCap: with a byte bound the collector keeps the newest lines that
// fit, says it truncated, and never holds more text than the bound; a line-count
// bound alone is not a truncation.
func TestLogCollectorByteCap(t *testing.T) {
	line := strings.Repeat("x", 1000)
	feed := func(c *logCollector, n int) {
		w := c.writer(streamStdout)
		for i := range n {
			fmt.Fprintf(w, "2025-06-01T12:00:%02dZ %04d %s\n", i%60, i, line)
		}
		w.flush()
	}
	c := newLogCollector(5000, "")
	c.maxBytes = 10_000
	feed(c, 100)
	got := c.result()
	if !c.truncated || len(got) != 9 || c.bytes > 10_000 {
		t.Fatalf("kept %d lines, %d bytes, truncated=%v; want the 9 newest lines within 10000 bytes, truncated", len(got), c.bytes, c.truncated)
	}
	if !strings.HasPrefix(got[len(got)-1].Text, "0099 ") {
		t.Errorf("the newest line is not kept: %.10q", got[len(got)-1].Text)
	}

	c = newLogCollector(5, "")
	c.maxBytes = 1 << 20
	feed(c, 100)
	if c.truncated || len(c.result()) != 5 {
		t.Errorf("lines bound only: %d lines, truncated=%v; want 5, not truncated", len(c.result()), c.truncated)
	}

	c = newLogCollector(5, "")
	c.maxBytes = 100
	feed(c, 1)
	if got := c.result(); !c.truncated || len(got) != 1 || len(got[0].Text) != 100 {
		t.Errorf("a line longer than the bound: %d lines, truncated=%v; want it cut to 100 bytes", len(got), c.truncated)
	}
}
