package dockerops

import (
	"bytes"
	"errors"
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

// logCollector keeps the last n lines that pass the grep filter, in a ring, and at
// most maxBytes of their text (0: no bound): older lines go first, and truncated
// says that some did for the byte bound.
//
// The kept lines' text lives in one byte arena, in ring order, so that reading a
// line allocates nothing: result makes one string of the arena and slices each line's
// Text from it. A dropped line's bytes stay in the arena until it holds more dead
// bytes than live ones (and at least arenaSlack); then the live bytes move to its
// start, so the arena stays within about twice the kept text.
type logCollector struct {
	ring      []keptLine
	head      int // the oldest kept line
	size      int
	text      []byte // the arena: the kept lines' text, oldest first, after dead bytes
	bytes     int    // the kept lines' text
	maxBytes  int
	truncated bool
	grepFilter
}

// keptLine is one line in the ring; its text is text[off:off+n] of the arena.
type keptLine struct {
	time   time.Time
	stream string
	off, n int
}

// arenaSlack is how many dead bytes the arena holds before they are worth moving
// the live ones for.
const arenaSlack = 64 << 10

func newLogCollector(n int, grep string) *logCollector {
	return &logCollector{ring: make([]keptLine, n), text: make([]byte, 0, min(n, 1000)*80), grepFilter: newGrepFilter(grep)}
}

// splitStamp splits one line as the engine sent it, "<RFC 3339 time> <text>", into
// its time and its text; a TTY's carriage return goes.
func splitStamp(stream string, raw []byte) (time.Time, []byte) {
	if stream == streamTTY {
		raw = bytes.TrimSuffix(raw, []byte("\r"))
	}
	if i := bytes.IndexByte(raw, ' '); i > 0 {
		if t, err := time.Parse(time.RFC3339Nano, string(raw[:i])); err == nil {
			return t, raw[i+1:]
		}
	}
	return time.Time{}, raw
}

// add takes one line as the engine sent it: "<RFC 3339 time> <text>".
func (c *logCollector) add(stream string, raw []byte) {
	ts, raw := splitStamp(stream, raw)
	if !c.keeps(raw) {
		return
	}
	if c.size == len(c.ring) {
		c.dropOldest()
	}
	text := raw
	if !utf8.Valid(text) {
		text = bytes.ToValidUTF8(text, []byte("\uFFFD"))
	}
	if c.maxBytes > 0 {
		for c.size > 0 && c.bytes+len(text) > c.maxBytes {
			c.dropOldest()
			c.truncated = true
		}
		if len(text) > c.maxBytes {
			text, c.truncated = bytes.ToValidUTF8(text[:c.maxBytes], nil), true
		}
	}
	if dead := len(c.text) - c.bytes; dead > c.bytes && dead >= arenaSlack {
		c.compact()
	}
	c.ring[(c.head+c.size)%len(c.ring)] = keptLine{time: ts, stream: stream, off: len(c.text), n: len(text)}
	c.text = append(c.text, text...)
	c.size++
	c.bytes += len(text)
}

func (c *logCollector) dropOldest() {
	c.bytes -= c.ring[c.head].n
	c.ring[c.head] = keptLine{}
	c.head = (c.head + 1) % len(c.ring)
	c.size--
}

// compact moves the kept lines' text to the start of the arena. The lines sit in the
// arena in ring order, so each moves down, never over one not yet moved.
func (c *logCollector) compact() {
	at := 0
	for i := range c.size {
		l := &c.ring[(c.head+i)%len(c.ring)]
		copy(c.text[at:], c.text[l.off:l.off+l.n])
		l.off = at
		at += l.n
	}
	c.text = c.text[:at]
}

// grepFilter keeps the lines that contain its text, case-insensitively; an empty
// one keeps every line.
type grepFilter struct {
	grep  string // lower case
	ascii bool
}

func newGrepFilter(grep string) grepFilter {
	g := strings.ToLower(grep)
	return grepFilter{grep: g, ascii: isASCII(g)}
}

func (c grepFilter) keeps(text []byte) bool { return c.grep == "" || c.match(text) }

func (c grepFilter) match(text []byte) bool {
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
// Their texts share one string, made here. The engine stamps stdout and stderr lines
// as each pipe delivers them, so its order can be a little off between the two;
// sorting by the stamps fixes that. The engine mostly sends them in order already,
// and a stable sort of lines in order leaves them as they are, so the sort, which
// moves every line, is made only when a line is older than the one before it.
func (c *logCollector) result() []LogLine {
	c.compact()
	all := string(c.text)
	out := make([]LogLine, 0, c.size)
	for i := range c.size {
		l := c.ring[(c.head+i)%len(c.ring)]
		out = append(out, LogLine{Time: l.time, Stream: l.stream, Text: all[l.off : l.off+l.n]})
	}
	byTime := func(a, b LogLine) int { return a.Time.Compare(b.Time) }
	if !slices.IsSortedFunc(out, byTime) {
		slices.SortStableFunc(out, byTime)
	}
	return out
}

func (c *logCollector) writer(stream string) *lineCutter {
	return &lineCutter{line: func(b []byte) bool {
		c.add(stream, b)
		return true
	}}
}

// errLinesRefused ends a copy into a lineCutter whose reader wants no more lines.
var errLinesRefused = errors.New("no more lines wanted")

// lineCutter cuts what is written to it into lines and hands each, without its
// newline and cut at maxLineBytes, to line. When line answers false, Write fails with
// errLinesRefused, which ends the copy from the engine. The slice is reused: line
// copies what it keeps.
type lineCutter struct {
	line func([]byte) bool
	buf  []byte
}

func (w *lineCutter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.keep(p)
			break
		}
		w.keep(p[:i])
		if !w.emit() {
			return 0, errLinesRefused
		}
		p = p[i+1:]
	}
	return n, nil
}

// keep buffers part of the current line, dropping what goes past maxLineBytes.
func (w *lineCutter) keep(p []byte) {
	if room := maxLineBytes - len(w.buf); len(p) > room {
		p = p[:max(room, 0)]
	}
	w.buf = append(w.buf, p...)
}

func (w *lineCutter) emit() bool {
	ok := w.line(w.buf)
	w.buf = w.buf[:0]
	return ok
}

// flush hands on a last line that had no newline.
func (w *lineCutter) flush() {
	if len(w.buf) > 0 {
		w.emit()
	}
}
