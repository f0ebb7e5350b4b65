package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// sseStream is a Server-Sent Events answer under way: the event streams (GET /events,
// GET /deployments/{id}/events) write through it.
type sseStream struct {
	w         http.ResponseWriter
	rc        *http.ResponseController
	keepAlive time.Duration
}

// startSSE sends the headers of an event stream and its first comment, which says how
// often a comment keeps it alive. The stream outlives the server's write timeout:
// each write gets its own deadline instead.
func startSSE(w http.ResponseWriter, keepAlive time.Duration, name string) (*sseStream, bool) {
	s := &sseStream{w: w, rc: http.NewResponseController(w), keepAlive: keepAlive}
	_ = s.rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	return s, s.comment("scar " + name + "; a comment every " + keepAlive.String() + " keeps it alive")
}

// send writes b and flushes it; false when the client is gone.
func (s *sseStream) send(b []byte) bool {
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.keepAlive + 10*time.Second))
	if _, err := s.w.Write(b); err != nil {
		return false
	}
	return s.rc.Flush() == nil
}

// comment writes an SSE comment: clients skip it, people reading the stream see it.
func (s *sseStream) comment(text string) bool { return s.send([]byte(": " + text + "\n\n")) }

// event writes one event named name with v's JSON on its one data line.
func (s *sseStream) event(name string, v any) bool { return s.send(sseFrame(name, v)) }

// sseFrame is one event of a stream: its name and its JSON on one data line.
func sseFrame(name string, v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		data = []byte(fmt.Sprintf(`{"error":%q}`, err.Error()))
	}
	var b bytes.Buffer
	b.WriteString("event: " + name + "\ndata: ")
	b.Write(data) // JSON has no raw newline: one data line
	b.WriteString("\n\n")
	return b.Bytes()
}
