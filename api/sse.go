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
	// send writes and flushes one piece; false when the client is gone.
	send func([]byte) bool
}

// startSSE sends the headers of an event stream and its first comment, which says how
// often a comment keeps it alive. The stream outlives the server's write timeout:
// each write gets its own deadline instead.
func startSSE(w http.ResponseWriter, keepAlive time.Duration, name string) (*sseStream, bool) {
	s := &sseStream{send: startStream(w, "text/event-stream", keepAlive+10*time.Second)}
	return s, s.comment("scar " + name + "; a comment every " + keepAlive.String() + " keeps it alive")
}

// startStream answers 200 with a stream of contentType, unbuffered by proxies, and
// returns the function that writes and flushes each piece of it. The stream outlives
// the server's write timeout; each piece gets writeTimeout instead, so that a client
// that stopped reading cannot hold the handler beyond it. send reports false once a
// write failed: the client is gone.
func startStream(w http.ResponseWriter, contentType string, writeTimeout time.Duration) (send func([]byte) bool) {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush() // the client knows the stream is open before its first piece
	return func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
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
