package dockerops

import (
	"bytes"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Streams of a log line.
const (
	streamStdout = "stdout"
	streamStderr = "stderr"
	streamTTY    = "tty"
)

// maxLineBytes caps one line. The engine splits longer lines into 16 KiB parts
// anyway, so more would only let one line eat the memory bound.
const maxLineBytes = 16 << 10

// logCollector keeps the last n lines that pass the grep filter, in a ring.
type logCollector struct {
	ring  []LogLine
	next  int
	count int
	grep  string // lower case
	ascii bool
}

func newLogCollector(n int, grep string) *logCollector {
	g := strings.ToLower(grep)
	return &logCollector{ring: make([]LogLine, n), grep: g, ascii: isASCII(g)}
}

// add takes one line as the engine sent it: "<RFC 3339 time> <text>".
func (c *logCollector) add(stream string, raw []byte) {
	if stream == streamTTY {
		raw = bytes.TrimSuffix(raw, []byte("\r"))
	}
	var ts time.Time
	if i := bytes.IndexByte(raw, ' '); i > 0 {
		if t, err := time.Parse(time.RFC3339Nano, string(raw[:i])); err == nil {
			ts, raw = t, raw[i+1:]
		}
	}
	if c.grep != "" && !c.match(raw) {
		return
	}
	c.ring[c.next] = LogLine{Time: ts, Stream: stream, Text: strings.ToValidUTF8(string(raw), "\uFFFD")}
	c.next = (c.next + 1) % len(c.ring)
	c.count++
}

func (c *logCollector) match(text []byte) bool {
	if !c.ascii {
		return strings.Contains(strings.ToLower(string(text)), c.grep)
	}
	n := len(c.grep)
	for i := 0; i+n <= len(text); i++ {
		if lower(text[i]) == c.grep[0] && bytes.EqualFold(text[i:i+n], []byte(c.grep)) {
			return true
		}
	}
	return false
}

func lower(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// result returns the kept lines, oldest first; an empty log gives an empty slice.
// The engine stamps stdout and stderr lines as each pipe delivers them, so its order
// can be a little off between the two; sorting by the stamps fixes that.
func (c *logCollector) result() []LogLine {
	var out []LogLine
	if c.count <= len(c.ring) {
		out = c.ring[:c.count:c.count]
	} else {
		out = make([]LogLine, 0, len(c.ring))
		out = append(out, c.ring[c.next:]...)
		out = append(out, c.ring[:c.next]...)
	}
	slices.SortStableFunc(out, func(a, b LogLine) int { return a.Time.Compare(b.Time) })
	return out
}

func (c *logCollector) writer(stream string) *lineWriter {
	return &lineWriter{stream: stream, col: c}
}

// lineWriter cuts what is written to it into lines for its collector.
type lineWriter struct {
	stream string
	col    *logCollector
	buf    []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.keep(p)
			break
		}
		w.keep(p[:i])
		w.emit()
		p = p[i+1:]
	}
	return n, nil
}

// keep buffers part of the current line, dropping what goes past maxLineBytes.
func (w *lineWriter) keep(p []byte) {
	if room := maxLineBytes - len(w.buf); len(p) > room {
		p = p[:max(room, 0)]
	}
	w.buf = append(w.buf, p...)
}

func (w *lineWriter) emit() {
	w.col.add(w.stream, w.buf)
	w.buf = w.buf[:0]
}

// flush emits a last line that had no newline.
func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.emit()
	}
}
